<#
.SYNOPSIS
Removes the Transom agent service and its files; -Purge also removes its state.

.DESCRIPTION
Stops TransomAgent gracefully (the change in progress finishes), deletes the service and
removes the program folder. The configuration, the enrolled identity, the journal and the audit
log in C:\ProgramData\Transom are kept unless -Purge is given; so is the Event Log source (so
the events already written keep their text) unless -Purge. Nothing the agent configured on this
host is undone. Windows PowerShell 5.1, from an elevated prompt.

.EXAMPLE
& 'C:\Program Files\Transom\uninstall.ps1'
#>
[CmdletBinding()]
param(
    [string] $InstallDir = (Join-Path $env:ProgramFiles 'Transom'),
    # Also delete C:\ProgramData\Transom (identity, journal, audit log) and the Event Log source.
    [switch] $Purge
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$serviceName = 'TransomAgent'
$dataDir = Join-Path $env:ProgramData 'Transom'
$python = Join-Path $InstallDir 'python\python.exe'

$identity = [Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object Security.Principal.WindowsPrincipal($identity)
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'uninstall.ps1 needs an elevated PowerShell: right-click Windows PowerShell, Run as administrator.'
}

if (Test-Path -LiteralPath $python) {
    $arguments = @('-I', '-m', 'transom.cli.main', 'agent', 'uninstall')
    if ($Purge) { $arguments += '--remove-event-source' }
    & $python @arguments
    if ($LASTEXITCODE -ne 0) {
        throw "transom agent uninstall failed (exit code $LASTEXITCODE); see the lines above"
    }
} elseif (Get-Service -Name $serviceName -ErrorAction SilentlyContinue) {
    # The program files are gone already: remove the service with the system's own tool.
    Stop-Service -Name $serviceName -ErrorAction SilentlyContinue
    & (Join-Path $env:SystemRoot 'System32\sc.exe') delete $serviceName | Out-Null
}

# The uninstaller itself lives in $InstallDir: PowerShell has read it, so it can go too.
if (Test-Path -LiteralPath $InstallDir) {
    Remove-Item -LiteralPath $InstallDir -Recurse -Force
}
if ($Purge -and (Test-Path -LiteralPath $dataDir)) {
    Remove-Item -LiteralPath $dataDir -Recurse -Force
    Write-Host "Removed $dataDir"
}
Write-Host "Transom agent removed from $InstallDir."
