/* bcryptprimitives.dll for Wine 8, which lacks ProcessPrng: Rust's standard library (1.78+)
 * imports it, so Rust-built wheels (pydantic-core) fail to load without it. Windows'
 * documented system RNG behind it is BCryptGenRandom with the system-preferred provider. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
