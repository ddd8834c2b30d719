"""The first-run wizard's steps (:mod:`fizz_app.gui.pages.wizard` puts them together)."""
