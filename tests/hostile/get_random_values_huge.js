// expect: exception
// limits: timeout_ms=2000 fuel=max memory_mb=32
// expect-name: QuotaExceededError
// expect-message-contains: more than 65536
// getRandomValues refuses more than 65,536 bytes at once (WebCrypto): a 16 MiB request
// is a QuotaExceededError DOMException, thrown before any byte is drawn.
crypto.getRandomValues(new Uint8Array(16 * 1024 * 1024));
