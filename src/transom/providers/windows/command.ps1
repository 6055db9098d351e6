# How a Command resource's script runs: in its own powershell.exe (-EncodedCommand), so `exit N`
# and $LASTEXITCODE are the process's exit code as Windows reports it.
# [PowerShell]::Create().AddScript() in the long-lived host swallowed `exit` (read as 0) and set
# HadErrors for errors a script silenced with -ErrorAction SilentlyContinue.
# The script arrives base64-encoded (UTF-8) on stdin: ASCII whatever the console code page, and
# no command-line length limit. Errors the script wrote make it exit 1; a native program's
# stderr lines (NativeCommandError under 2>&1) are output, not errors.
$ErrorActionPreference = 'Continue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
$transomText = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String([Console]::In.ReadToEnd()))
$transomScript = [ScriptBlock]::Create($transomText)
$global:LASTEXITCODE = 0
$transomWroteError = $false
& $transomScript 2>&1 | ForEach-Object {
    if ($_ -is [System.Management.Automation.ErrorRecord]) {
        if ($_.FullyQualifiedErrorId -notlike 'NativeCommandError*') { $transomWroteError = $true }
    }
    $_
} | Out-String -Stream -Width 4096
if ($LASTEXITCODE) { exit $LASTEXITCODE }
if ($transomWroteError) { exit 1 }
exit 0
