"""The Qt-free core: owns all state; front ends (CLI, GUI) only read snapshots and send intents."""
