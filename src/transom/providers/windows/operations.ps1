# The operations win32.Win32Facade calls, defined once per host process (sent after each
# start). Each returns the facade's TypedDict shape, in the resource's wire names, or $null.

function global:Get-TransomFeature {
    param([string]$Name)
    $f = Get-WindowsFeature -Name $Name
    if ($null -eq $f) { return $null }
    @{ name = $f.Name; installed = [bool]$f.Installed; subFeatures = @($f.SubFeatures) }
}

function global:Install-TransomFeature {
    param([string]$Name, [bool]$SubFeatures, [bool]$ManagementTools, [string]$Source)
    $p = @{ Name = $Name; IncludeAllSubFeature = $SubFeatures; IncludeManagementTools = $ManagementTools }
    if ($Source) { $p.Source = $Source }
    $r = Install-WindowsFeature @p
    @{ success = [bool]$r.Success; restartNeeded = ([string]$r.RestartNeeded -ne 'No') }
}

function global:Uninstall-TransomFeature {
    param([string]$Name)
    $r = Uninstall-WindowsFeature -Name $Name
    @{ success = [bool]$r.Success; restartNeeded = ([string]$r.RestartNeeded -ne 'No') }
}

function global:Get-TransomFirewallRule {
    param([string]$Name)
    $r = Get-NetFirewallRule -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $r) { return $null }
    $port = $r | Get-NetFirewallPortFilter
    $addr = $r | Get-NetFirewallAddressFilter
    $app = $r | Get-NetFirewallApplicationFilter
    $out = @{
        name = $r.Name; displayName = $r.DisplayName; direction = [string]$r.Direction
        action = [string]$r.Action; protocol = [string]$port.Protocol
        enabled = ([string]$r.Enabled -eq 'True')
        profiles = @(([string]$r.Profile) -split ',\s*')
    }
    if ($app.Program -and $app.Program -ne 'Any') { $out.program = [string]$app.Program }
    $lp = @($port.LocalPort | Where-Object { $_ -ne 'Any' } | ForEach-Object { [string]$_ })
    if ($lp.Count) { $out.localPorts = $lp }
    $ra = @($addr.RemoteAddress | Where-Object { $_ -ne 'Any' } | ForEach-Object { [string]$_ })
    if ($ra.Count) { $out.remoteAddresses = $ra }
    $out
}

function global:Set-TransomFirewallRule {
    # Python (win32.firewall_parameters) maps the wire names to each cmdlet's parameters:
    # renaming an existing rule is -NewDisplayName, as -DisplayName selects rules by name.
    param([string]$Name, $New, $Set)
    if (Get-NetFirewallRule -Name $Name -ErrorAction SilentlyContinue) {
        if ($Set.Count) { Set-NetFirewallRule -Name $Name @Set }
    } else {
        New-NetFirewallRule -Name $Name @New | Out-Null
    }
}

function global:Get-TransomTask {
    param([string]$Path, [string]$Name)
    $t = Get-ScheduledTask -TaskPath $Path -TaskName $Name -ErrorAction SilentlyContinue
    if ($null -eq $t) { return $null }
    $a = $t.Actions | Select-Object -First 1
    $out = @{
        path = $t.TaskPath; name = $t.TaskName; enabled = ([string]$t.State -ne 'Disabled')
        action = @{ execute = $a.Execute }
        principal = @{ userId = $t.Principal.UserId; runLevel = [string]$t.Principal.RunLevel }
    }
    if ($t.Description) { $out.description = $t.Description }
    if ($a.Arguments) { $out.action.arguments = $a.Arguments }
    if ($a.WorkingDirectory) { $out.action.workingDirectory = $a.WorkingDirectory }
    $tr = $t.Triggers | Select-Object -First 1
    if ($tr) {
        $type = switch ($tr.CimClass.CimClassName) {
            'MSFT_TaskTimeTrigger' { 'Once' }
            'MSFT_TaskDailyTrigger' { 'Daily' }
            'MSFT_TaskWeeklyTrigger' { 'Weekly' }
            'MSFT_TaskBootTrigger' { 'AtStartup' }
            'MSFT_TaskLogonTrigger' { 'AtLogOn' }
            default { $tr.CimClass.CimClassName }
        }
        $trigger = @{ type = $type }
        if ($tr.StartBoundary) { $trigger.at = ([datetime]$tr.StartBoundary).ToString("yyyy-MM-dd'T'HH:mm:ss") }
        if ($type -eq 'Daily') { $trigger.daysInterval = [int]$tr.DaysInterval }
        if ($type -eq 'Weekly') {
            $trigger.daysOfWeek = @([enum]::GetValues([DayOfWeek]) |
                Where-Object { $tr.DaysOfWeek -band (1 -shl [int]$_) } | ForEach-Object { [string]$_ })
        }
        $out.trigger = $trigger
    }
    $out
}

function global:Register-TransomTask {
    param($Task)
    $a = $Task.action
    $ap = @{ Execute = $a.execute }
    if ($a.arguments) { $ap.Argument = $a.arguments }
    if ($a.workingDirectory) { $ap.WorkingDirectory = $a.workingDirectory }
    $p = @{ TaskName = $Task.name; TaskPath = $Task.path; Action = (New-ScheduledTaskAction @ap); Force = $true }
    if ($Task.description) { $p.Description = $Task.description }
    if ($Task.trigger) {
        $t = $Task.trigger
        $tp = @{}
        switch ($t.type) {
            'Once' { $tp.Once = $true; $tp.At = [datetime]$t.at }
            'Daily' { $tp.Daily = $true; $tp.At = [datetime]$t.at; if ($t.daysInterval) { $tp.DaysInterval = $t.daysInterval } }
            'Weekly' { $tp.Weekly = $true; $tp.At = [datetime]$t.at; $tp.DaysOfWeek = [string[]]$t.daysOfWeek }
            'AtStartup' { $tp.AtStartup = $true }
            'AtLogOn' { $tp.AtLogOn = $true }
        }
        $p.Trigger = New-ScheduledTaskTrigger @tp
    }
    if ($Task.principal) {
        $logon = 'ServiceAccount'
        if ($Task.principal.userId.EndsWith('$')) { $logon = 'Password' }
        $p.Principal = New-ScheduledTaskPrincipal -UserId $Task.principal.userId -RunLevel $Task.principal.runLevel -LogonType $logon
    }
    # Created disabled in the same call, rather than registered enabled and disabled after.
    if ($Task.ContainsKey('enabled') -and -not $Task.enabled) { $p.Settings = New-ScheduledTaskSettingsSet -Disable }
    Register-ScheduledTask @p | Out-Null
}

function global:Import-TransomWebAdministration {
    # Import-Module's own error names the module, not the feature that installs it.
    if (-not (Get-Module -ListAvailable -Name WebAdministration)) {
        throw "The WebAdministration module is missing: install the Web-Scripting-Tools feature (IIS Management Scripts and Tools)."
    }
    Import-Module WebAdministration
}

function global:Get-TransomAppPool {
    param([string]$Name)
    Import-TransomWebAdministration
    $path = "IIS:\AppPools\$Name"
    if (-not (Test-Path $path)) { return $null }
    $p = Get-Item $path
    @{
        name = $p.Name; managedRuntimeVersion = [string]$p.managedRuntimeVersion
        managedPipelineMode = [string]$p.managedPipelineMode
        identityType = [string]$p.processModel.identityType
        userName = [string]$p.processModel.userName; state = [string]$p.State
    }
}

function global:Set-TransomAppPool {
    param($Pool, [string]$Password)
    Import-TransomWebAdministration
    $name = $Pool.name
    $path = "IIS:\AppPools\$name"
    if (-not (Test-Path $path)) { New-WebAppPool -Name $name | Out-Null }
    if ($Pool.ContainsKey('managedRuntimeVersion')) { Set-ItemProperty $path -Name managedRuntimeVersion -Value $Pool.managedRuntimeVersion }
    if ($Pool.ContainsKey('managedPipelineMode')) { Set-ItemProperty $path -Name managedPipelineMode -Value $Pool.managedPipelineMode }
    if ($Pool.ContainsKey('identityType')) { Set-ItemProperty $path -Name processModel.identityType -Value $Pool.identityType }
    if ($Pool.ContainsKey('userName')) { Set-ItemProperty $path -Name processModel.userName -Value $Pool.userName }
    if ($Password) { Set-ItemProperty $path -Name processModel.password -Value $Password }
    if ($Pool.ContainsKey('state')) {
        $current = (Get-WebAppPoolState -Name $name).Value
        if ($current -ne $Pool.state) {
            if ($Pool.state -eq 'Started') { Start-WebAppPool -Name $name } else { Stop-WebAppPool -Name $name }
        }
    }
}

function global:Get-TransomSite {
    param([string]$Name)
    Import-TransomWebAdministration
    $s = Get-Website | Where-Object { $_.Name -eq $Name } | Select-Object -First 1
    if ($null -eq $s) { return $null }
    $bindings = @()
    foreach ($b in $s.bindings.Collection) {
        if ($b.protocol -notin 'http', 'https') { continue }
        if ($b.bindingInformation -notmatch '^(.*):(\d+):(.*)$') { continue }
        $entry = @{ protocol = $b.protocol; ipAddress = $Matches[1]; port = [int]$Matches[2]; hostName = $Matches[3] }
        if ($b.protocol -eq 'https') {
            $entry.certificateThumbprint = [string]$b.certificateHash
            $entry.certificateStoreName = [string]$b.certificateStoreName
            $entry.requireSni = [bool]($b.sslFlags -band 1)
        }
        $bindings += $entry
    }
    @{
        name = $s.Name; physicalPath = [Environment]::ExpandEnvironmentVariables($s.physicalPath)
        appPool = $s.applicationPool; bindings = $bindings; state = [string]$s.State
    }
}

function global:Set-TransomSite {
    param($Site)
    Import-TransomWebAdministration
    $name = $Site.name
    $path = "IIS:\Sites\$name"
    if (-not (Test-Path $path)) {
        $p = @{ Name = $name; PhysicalPath = $Site.physicalPath; Force = $true }
        if ($Site.bindings) {
            $b0 = $Site.bindings[0]
            $p.Port = $b0.port; $p.IPAddress = $b0.ipAddress; $p.HostHeader = $b0.hostName
            if ($b0.protocol -eq 'https') { $p.Ssl = $true }
        }
        if ($Site.appPool) { $p.ApplicationPool = $Site.appPool }
        New-Website @p | Out-Null
    }
    if ($Site.ContainsKey('physicalPath')) { Set-ItemProperty $path -Name physicalPath -Value $Site.physicalPath }
    if ($Site.ContainsKey('appPool')) { Set-ItemProperty $path -Name applicationPool -Value $Site.appPool }
    if ($Site.ContainsKey('bindings')) {
        $collection = @($Site.bindings | ForEach-Object {
            $flags = 0
            if ($_.requireSni) { $flags = 1 }
            @{ protocol = $_.protocol; bindingInformation = "$($_.ipAddress):$($_.port):$($_.hostName)"; sslFlags = $flags }
        })
        Set-ItemProperty $path -Name bindings -Value $collection
        foreach ($b in @($Site.bindings | Where-Object { $_.protocol -eq 'https' })) {
            $store = 'My'
            if ($b.certificateStoreName) { $store = $b.certificateStoreName }
            $binding = Get-WebBinding -Name $name -Protocol https -IPAddress $b.ipAddress -Port $b.port -HostHeader $b.hostName
            try { $binding.RemoveSslCertificate() } catch { }
            $binding.AddSslCertificate($b.certificateThumbprint, $store)
        }
    }
    if ($Site.ContainsKey('state')) {
        $current = (Get-WebsiteState -Name $name).Value
        if ($current -ne $Site.state) {
            if ($Site.state -eq 'Started') { Start-Website -Name $name } else { Stop-Website -Name $name }
        }
    }
}

# Get-DscResource costs about 0.6 s per call: resolve each module/version/name once.
$global:TransomDscCache = @{}
function global:Resolve-TransomDscResource([string]$Module, [string]$Version, [string]$Name) {
    $key = "$Module|$Version|$Name".ToLowerInvariant()
    if (-not $global:TransomDscCache.ContainsKey($key)) {
        $spec = $Module
        if ($Version) { $spec = @{ ModuleName = $Module; RequiredVersion = $Version } }
        $found = @(Get-DscResource -Name $Name -Module $spec)
        if ($found.Count -eq 0) { throw "DSC resource $Name was not found in module $Module $Version" }
        $best = $found | Sort-Object { [version]$_.Version } -Descending | Select-Object -First 1
        $global:TransomDscCache[$key] = @{ ModuleName = $best.ModuleName; RequiredVersion = [string]$best.Version }
    }
    $global:TransomDscCache[$key]
}

function global:Invoke-TransomDsc {
    param([string]$Method, [string]$Module, [string]$Version, [string]$Name, $Properties)
    $spec = Resolve-TransomDscResource $Module $Version $Name
    if ($null -eq $Properties) { $Properties = @{} }
    $r = Invoke-DscResource -Name $Name -ModuleName $spec -Method $Method -Property $Properties
    switch ($Method) {
        'Test' { @{ inDesiredState = [bool]$r.InDesiredState } }
        'Set' { @{ rebootRequired = [bool]$r.RebootRequired } }
        'Get' {
            $props = @{}
            foreach ($p in $r.PSObject.Properties) {
                if ($p.Name -notin 'PSComputerName', 'CimClass', 'CimInstanceProperties', 'CimSystemProperties') {
                    $props[$p.Name] = $p.Value
                }
            }
            @{ properties = $props }
        }
    }
}
