// The JavaScript part of `atob` and `btoa` (see base64.rs). Runs once, at
// pre-initialization, in the run context (strict mode); called with the natives
// `{ atob, btoa }` (each taking a string) and the exports so far (it uses `webidl`).
((natives, { webidl }) => {
  const { atob: nativeAtob, btoa: nativeBtoa } = natives;
  const { exposeOperation, requireArguments, toDOMString } = webidl;
  // Methods, so that they are not constructors, as WebIDL operations are not.
  const operations = {
    atob(data) {
      requireArguments(arguments.length, 1, "Failed to execute 'atob'");
      return nativeAtob(toDOMString(data));
    },
    btoa(data) {
      requireArguments(arguments.length, 1, "Failed to execute 'btoa'");
      return nativeBtoa(toDOMString(data));
    },
  };
  exposeOperation("atob", operations.atob);
  exposeOperation("btoa", operations.btoa);
});
