; Inno Setup 6 script: FizzSetup.exe, a per-user installer of the bundle in dist\Fizz.
;
; Build on Windows (see installer/README.md; the release workflow does exactly this):
;   installer\windows\build_installer.ps1
; which renders the icons, builds the bundle, and runs
;   ISCC.exe /DAppVersion=<fizz_app.__version__> installer\windows\fizz.iss
; The version is passed in by the build script from fizz_app/__init__.py (the one place it is set).
;
; - Per user, no administrator rights: {localappdata}\Programs\Fizz Node.
; - Start menu entries for the app and its uninstaller; an optional desktop icon.
; - Optional "start at login" task: the HKCU Run value "FizzNode", the same value the app's own
;   Settings switch writes (fizz_app/core/autostart.py RUN_VALUE_NAME), with --minimized.
; - Uninstall removes the program and the Run value, then asks whether to keep the user data
;   folder %APPDATA%\FizzNode (settings, wallet keystore, earnings ledger, logs) or remove it.

#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=X.Y.Z fizz.iss (build_installer.ps1 does)
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\Fizz"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\icons\fizz.ico"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

#define AppName "Fizz Node"
#define AppExe "Fizz.exe"
#define CliExe "fizz-node.exe"
#define RunValueName "FizzNode"
#define DataFolder "FizzNode"

[Setup]
; A fixed AppId keeps upgrades in place; never change it.
AppId={{6B0F5E4C-2C1D-4F0B-9B8E-F1224E0DE5A1}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Fizz Node Desktop developers
AppPublisherURL=https://github.com/fizz-node/fizz-node-desktop
AppSupportURL=https://github.com/fizz-node/fizz-node-desktop/issues
AppUpdatesURL=https://github.com/fizz-node/fizz-node-desktop/releases
VersionInfoVersion={#AppVersion}
PrivilegesRequired=lowest
DefaultDirName={localappdata}\Programs\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
SetupIconFile={#IconFile}
OutputDir={#OutputDir}
OutputBaseFilename=FizzSetup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; The app must not run while its files are replaced or removed.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "startatlogin"; Description: "Start {#AppName} when I log in (in the tray)"; GroupDescription: "Start-up:"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{userdesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"; Tasks: desktopicon

[Registry]
; Same value name and command form as fizz_app.core.autostart (windows_command_line).
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "{#RunValueName}"; ValueData: """{app}\{#AppExe}"" --minimized"; Flags: uninsdeletevalue; Tasks: startatlogin

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Files the app writes beside itself (none today); the data folder is handled below.
Type: dirifempty; Name: "{app}"

[Code]
// The Run value may also have been written by the app's own Settings switch (without this
// installer's task): remove it on uninstall in any case, so nothing starts a missing program.
procedure RemoveRunValue();
begin
  if RegValueExists(HKEY_CURRENT_USER, 'Software\Microsoft\Windows\CurrentVersion\Run',
    '{#RunValueName}') then
    RegDeleteValue(HKEY_CURRENT_USER, 'Software\Microsoft\Windows\CurrentVersion\Run',
      '{#RunValueName}');
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir: String;
begin
  if CurUninstallStep = usUninstall then
    RemoveRunValue();
  if CurUninstallStep = usPostUninstall then
  begin
    DataDir := ExpandConstant('{userappdata}\{#DataFolder}');
    if DirExists(DataDir) then
    begin
      // Silent uninstalls keep the data: the wallet keystore and the earnings ledger live there.
      if UninstallSilent() then
        exit;
      if MsgBox('Also remove your Fizz Node data?' + #13#10 + #13#10 +
        DataDir + #13#10 + #13#10 +
        'It holds your settings, logs, the earnings ledger and, on machines without the ' +
        'Windows Credential Locker, the encrypted wallet file. Keep it if you may reinstall, ' +
        'and make sure you have your 12-word recovery phrase before removing it.' + #13#10 + #13#10 +
        'Yes: remove the data.   No: keep it.',
        mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES then
      begin
        if not DelTree(DataDir, True, True, True) then
          MsgBox('Some files in ' + DataDir + ' could not be removed; delete the folder by hand.',
            mbError, MB_OK);
      end;
    end;
  end;
end;
