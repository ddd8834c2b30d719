# Builds FizzSetup.exe on Windows: icons, the PyInstaller bundle (dist\Fizz), then Inno Setup.
# Run from a checkout after scripts/bootstrap.sh-equivalent set-up (see installer/README.md):
#   py -3.11 -m venv .venv
#   .venv\Scripts\python -m pip install -c requirements\constraints.txt -e ".[dev,bundle]"
#   powershell -ExecutionPolicy Bypass -File installer\windows\build_installer.ps1
# Needs Inno Setup 6.3+ (ISCC.exe on PATH, or at its default place; `choco install innosetup`).
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

$Root = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
Set-Location $Root
$Python = Join-Path $Root ".venv\Scripts\python.exe"
if (-not (Test-Path $Python)) { throw "No .venv: create it first (see installer/README.md)." }

$Version = (& $Python -c "import fizz_app; print(fizz_app.__version__)").Trim()
if ($LASTEXITCODE -ne 0 -or -not $Version) { throw "Could not read fizz_app.__version__." }
Write-Host "Fizz Node $Version"

& $Python installer\render_icons.py --out build\icons
if ($LASTEXITCODE -ne 0) { throw "render_icons.py failed" }

# Always --clean: a stale PyInstaller cache silently rebuilds an old, broken bundle.
if (Test-Path dist\Fizz) { Remove-Item -Recurse -Force dist\Fizz }
& $Python -m PyInstaller --clean --noconfirm --log-level WARN `
  --distpath dist --workpath build\pyinstaller installer\fizz.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

# Smoke test the frozen CLI before packaging it.
$Reported = (& dist\Fizz\fizz-node.exe --version).Trim()
if ($Reported -ne "fizz-node $Version") { throw "dist\Fizz\fizz-node.exe says '$Reported'" }

$Iscc = (Get-Command ISCC.exe -ErrorAction SilentlyContinue).Source
if (-not $Iscc) {
  foreach ($Candidate in @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe")) {
    if (Test-Path $Candidate) { $Iscc = $Candidate; break }
  }
}
if (-not $Iscc) { throw "ISCC.exe (Inno Setup 6) not found: choco install innosetup" }

& $Iscc /Q "/DAppVersion=$Version" installer\windows\fizz.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
Write-Host "Built dist\FizzSetup.exe"
