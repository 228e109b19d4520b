// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
// valueOf loops when the script does arithmetic with the object.
const o = {
  valueOf() {
    for (;;) {}
  },
};
o + 1;
