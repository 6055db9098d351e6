<#
.SYNOPSIS
Installs the Transom agent from this offline bundle, as the Windows service TransomAgent.

.DESCRIPTION
Copies the bundled Python and Transom to -InstallDir (default: C:\Program Files\Transom),
writes the agent's configuration (C:\ProgramData\Transom\agent.yaml), enrolls this host with
the cluster when given a token, then installs and starts the service: automatic (delayed)
start, restart after 1 and 5 minutes on failure, as LocalSystem unless -Account names a group
managed service account. Needs no internet access. Run it again from a newer bundle to upgrade
in place: the running agent is stopped gracefully, the files replaced, the enrolled identity,
journal and audit log kept.

Windows PowerShell 5.1 (Windows Server 2016 and later), from an elevated prompt.

.EXAMPLE
.\install.ps1 -Server https://k8s.contoso.com:6443 -Token abcdef.0123456789abcdef -Name web01 -CaFile .\ca.crt

.EXAMPLE
.\install.ps1 -Config .\agent.yaml -Token abcdef.0123456789abcdef
#>
[CmdletBinding(DefaultParameterSetName = 'Enroll')]
param(
    # The Kubernetes API server, https://HOST:PORT.
    [Parameter(Mandatory = $true, ParameterSetName = 'Enroll')]
    [string] $Server,

    # This host's name in the cluster, e.g. web01.
    [Parameter(Mandatory = $true, ParameterSetName = 'Enroll')]
    [string] $Name,

    # The cluster's CA bundle (PEM); default: the CAs Windows trusts.
    [Parameter(ParameterSetName = 'Enroll')]
    [string] $CaFile,

    # An agent.yaml to install as is (any credential source).
    [Parameter(Mandatory = $true, ParameterSetName = 'Config')]
    [string] $Config,

    # The enrollment token; default $env:TRANSOM_ENROLL_TOKEN. Without one (-Config only),
    # nothing is enrolled: the configuration's credential source is used as it is.
    [string] $Token,

    # DOMAIN\name$ of a group managed service account to run as, instead of LocalSystem.
    [string] $Account,

    [string] $InstallDir = (Join-Path $env:ProgramFiles 'Transom'),

    # Install the service but leave it stopped.
    [switch] $NoStart
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$serviceName = 'TransomAgent'
$bundle = Split-Path -Parent $MyInvocation.MyCommand.Path
$dataDir = Join-Path $env:ProgramData 'Transom'
$configPath = Join-Path $dataDir 'agent.yaml'
$python = Join-Path $InstallDir 'python\python.exe'

function Test-Administrator {
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object Security.Principal.WindowsPrincipal($identity)
    return $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
}

function Invoke-Transom {
    param([string[]] $Arguments)
    # -I: the module path is the bundle's alone, never the working folder or PYTHON* variables.
    & $python -I -m transom.cli.main @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "transom $($Arguments[0..1] -join ' ') failed (exit code $LASTEXITCODE); see the lines above"
    }
}

function New-PrivateDirectory {
    # SYSTEM and Administrators only, not inherited from ProgramData (where Users may create
    # files): the agent running as SYSTEM reads its configuration from here.
    param([string] $Path, [string] $AlsoFor)
    if (-not (Test-Path -LiteralPath $Path)) {
        New-Item -ItemType Directory -Path $Path | Out-Null
    }
    $acl = New-Object System.Security.AccessControl.DirectorySecurity
    $acl.SetAccessRuleProtection($true, $false)
    $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    $none = [System.Security.AccessControl.PropagationFlags]::None
    foreach ($sid in @('S-1-5-18', 'S-1-5-32-544')) {
        $who = New-Object System.Security.Principal.SecurityIdentifier($sid)
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule($who, 'FullControl', $inherit, $none, 'Allow')
        $acl.AddAccessRule($rule)
    }
    if ($AlsoFor) {
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule($AlsoFor, 'Modify', $inherit, $none, 'Allow')
        $acl.AddAccessRule($rule)
    }
    $acl.SetOwner((New-Object System.Security.Principal.SecurityIdentifier('S-1-5-32-544')))
    Set-Acl -LiteralPath $Path -AclObject $acl
}

if (-not (Test-Administrator)) {
    throw 'install.ps1 needs an elevated PowerShell: right-click Windows PowerShell, Run as administrator.'
}
if (-not (Test-Path -LiteralPath (Join-Path $bundle 'python\python.exe'))) {
    throw "no python\python.exe next to install.ps1 in $bundle: unzip the whole bundle first."
}
if (-not $Token) { $Token = $env:TRANSOM_ENROLL_TOKEN }
if ($PSCmdlet.ParameterSetName -eq 'Enroll' -and -not $Token) {
    throw 'pass -Token (or set $env:TRANSOM_ENROLL_TOKEN); an admin creates one with: transom enroll-token create --hosts NAME'
}
if ($Config -and -not (Test-Path -LiteralPath $Config)) {
    throw "-Config ${Config}: no such file"
}
if ($CaFile -and -not (Test-Path -LiteralPath $CaFile)) {
    throw "-CaFile ${CaFile}: no such file"
}

# 1. Upgrade in place: stop the running agent (it finishes the change in progress first).
$existing = Get-Service -Name $serviceName -ErrorAction SilentlyContinue
if ($existing -and $existing.Status -ne 'Stopped') {
    Write-Host "Stopping $serviceName (the change in progress finishes first)..."
    Stop-Service -Name $serviceName
}

# 2. Files: the bundled Python with Transom in it, under Program Files.
Write-Host "Installing to $InstallDir"
New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
$target = Join-Path $InstallDir 'python'
if (Test-Path -LiteralPath $target) {
    Remove-Item -LiteralPath $target -Recurse -Force
}
Copy-Item -LiteralPath (Join-Path $bundle 'python') -Destination $target -Recurse
Copy-Item -LiteralPath (Join-Path $bundle 'uninstall.ps1') -Destination $InstallDir -Force
Invoke-Transom @('--version')

# 3. Configuration, in a folder only SYSTEM and Administrators can change.
New-PrivateDirectory -Path $dataDir -AlsoFor $Account
if ($Config) {
    Copy-Item -LiteralPath $Config -Destination $configPath -Force
} else {
    $lines = @(
        '# Written by install.ps1; see docs/windows.md. Flags of `transom agent run` override it.',
        'apiVersion: transom.dev/v1alpha1',
        'kind: AgentConfiguration',
        "server: '$Server'",
        "hostName: '$Name'",
        'credentials:',
        '  source: enrollment'
    )
    if ($CaFile) {
        $caPath = Join-Path $dataDir 'ca.crt'
        Copy-Item -LiteralPath $CaFile -Destination $caPath -Force
        $lines += "certificateAuthority: '$caPath'"
    }
    # UTF-8 without a byte order mark (Set-Content -Encoding UTF8 writes one in 5.1).
    [System.IO.File]::WriteAllLines($configPath, [string[]] $lines, (New-Object System.Text.UTF8Encoding($false)))
}

# 4. Enroll: the token goes through the environment, never the process list.
if ($Token) {
    $env:TRANSOM_ENROLL_TOKEN = $Token
    try {
        $enroll = @('agent', 'enroll')
        if ($PSCmdlet.ParameterSetName -eq 'Enroll') {
            $enroll += @('--server', $Server, '--name', $Name)
            if ($CaFile) { $enroll += @('--ca-file', (Join-Path $dataDir 'ca.crt')) }
        }
        Invoke-Transom $enroll
    } finally {
        Remove-Item Env:\TRANSOM_ENROLL_TOKEN -ErrorAction SilentlyContinue
    }
}

# 5. The service: created, or updated when upgrading; then started.
$install = @('agent', 'install')
if ($Account) { $install += @('--account', $Account) }
if (-not $NoStart) { $install += '--start' }
Invoke-Transom $install

Write-Host ''
Write-Host "Done. Check it with:  & '$python' -I -m transom.cli.main agent status"
Write-Host "Events: Event Viewer > Windows Logs > Application, source Transom."
