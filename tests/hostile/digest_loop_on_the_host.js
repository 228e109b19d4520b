// expect: out_of_fuel
// limits: timeout_ms=20000 memory_mb=32
// crypto.subtle.digest runs on the host, outside the fuel counter, so the host charges
// each digest the fuel the guest's own hash would have used: a script that hashes in a
// loop (here the biggest buffer its memory allows, over and over) runs out of its
// budget as a busy loop would, well before its timeout.
(async () => {
  const data = new Uint8Array(24 << 20);
  for (;;) await crypto.subtle.digest("SHA-256", data);
})()
