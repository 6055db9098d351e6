# Transom's long-lived PowerShell host (Windows PowerShell 5.1, Server 2016 and newer).
# Protocol: one JSON request per stdin line, {"id": n, "script" or "command": "...",
# "args": {...}};
# one JSON response per stdout line, {"id": n, "ok": true, "result": ...} or
# {"id": n, "ok": false, "error": {"message", "type", "category", "errorId", "code"}}.
# Python writes requests ASCII-only (escaped JSON), so only the output encoding matters.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
$stdin = [Console]::In
$stdout = [Console]::Out

function ConvertTo-TransomHashtable($Value) {
    if ($null -eq $Value) { return $null }
    if ($Value -is [System.Management.Automation.PSCustomObject]) {
        $table = @{}
        foreach ($p in $Value.PSObject.Properties) { $table[$p.Name] = ConvertTo-TransomHashtable $p.Value }
        return $table
    }
    if ($Value -is [System.Collections.IList]) {
        return , @($Value | ForEach-Object { ConvertTo-TransomHashtable $_ })
    }
    return $Value
}

while ($true) {
    $line = $stdin.ReadLine()
    if ($null -eq $line) { break }
    if ($line.Trim() -eq '') { continue }
    $id = $null
    try {
        $request = ConvertFrom-Json $line
        $id = $request.id
        $params = ConvertTo-TransomHashtable $request.args
        if ($null -eq $params) { $params = @{} }
        # A command (function or cmdlet) by name, or a script block.
        $target = $request.command
        if (-not $target) { $target = [ScriptBlock]::Create($request.script) }
        # Warnings, verbose, debug and Write-Host output would corrupt the protocol stream.
        $out = @(& $target @params 3>$null 4>$null 5>$null 6>$null)
        $result = $null
        if ($out.Count -eq 1) { $result = $out[0] } elseif ($out.Count -gt 1) { $result = $out }
        $response = @{ id = $id; ok = $true; result = $result }
    } catch {
        $err = $_
        $code = [int64]$err.Exception.HResult
        if ($err.Exception -is [System.ComponentModel.Win32Exception]) {
            $code = [int64]$err.Exception.NativeErrorCode
        }
        $response = @{
            id = $id; ok = $false
            error = @{
                message = $err.Exception.Message
                type = $err.Exception.GetType().FullName
                category = [string]$err.CategoryInfo.Category
                errorId = [string]$err.FullyQualifiedErrorId
                code = $code
            }
        }
    }
    $stdout.WriteLine((ConvertTo-Json -InputObject $response -Depth 20 -Compress))
    $stdout.Flush()
}
