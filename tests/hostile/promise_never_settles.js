// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: Error
// expect-message-contains: never settles
// Nothing can ever settle this promise, so the guest says so at once instead of
// waiting for the timeout.
new Promise(() => {});
