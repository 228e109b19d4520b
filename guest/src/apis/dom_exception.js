// The JavaScript part of `DOMException` (see dom_exception.rs). Runs once, at
// pre-initialization, in the run context (strict mode); called with no natives and the
// exports so far (it uses `webidl`). Returns `{ DOMException, create }` for the APIs
// installed after it. Everything it uses is captured here, before any script runs.
((_natives, { webidl }) => {
  const { defineInterface, exposeInterface, toDOMString } = webidl;
  const { defineProperty, setPrototypeOf, getOwnPropertyDescriptors, getOwnPropertyNames } = Object;
  const construct = Reflect.construct;
  const ErrorCtor = Error;
  const ErrorPrototype = Error.prototype;
  const TypeErrorCtor = TypeError;
  const captureStackTrace = typeof Error.captureStackTrace === "function" ? Error.captureStackTrace : undefined;

  // The DOMException names table (WebIDL "Base DOMException error names"): the names
  // that have a legacy code. Any other name has code 0.
  const codes = {
    __proto__: null,
    IndexSizeError: 1,
    HierarchyRequestError: 3,
    WrongDocumentError: 4,
    InvalidCharacterError: 5,
    NoModificationAllowedError: 7,
    NotFoundError: 8,
    NotSupportedError: 9,
    InUseAttributeError: 10,
    InvalidStateError: 11,
    SyntaxError: 12,
    InvalidModificationError: 13,
    NamespaceError: 14,
    InvalidAccessError: 15,
    TypeMismatchError: 17,
    SecurityError: 18,
    NetworkError: 19,
    AbortError: 20,
    URLMismatchError: 21,
    QuotaExceededError: 22,
    TimeoutError: 23,
    InvalidNodeTypeError: 24,
    DataCloneError: 25,
  };

  // The legacy constants on the interface object and its prototype (WebIDL's IDL of
  // DOMException lists them all, including three whose names are no longer in the table).
  const constants = {
    INDEX_SIZE_ERR: 1,
    DOMSTRING_SIZE_ERR: 2,
    HIERARCHY_REQUEST_ERR: 3,
    WRONG_DOCUMENT_ERR: 4,
    INVALID_CHARACTER_ERR: 5,
    NO_DATA_ALLOWED_ERR: 6,
    NO_MODIFICATION_ALLOWED_ERR: 7,
    NOT_FOUND_ERR: 8,
    NOT_SUPPORTED_ERR: 9,
    INUSE_ATTRIBUTE_ERR: 10,
    INVALID_STATE_ERR: 11,
    SYNTAX_ERR: 12,
    INVALID_MODIFICATION_ERR: 13,
    NAMESPACE_ERR: 14,
    INVALID_ACCESS_ERR: 15,
    VALIDATION_ERR: 16,
    TYPE_MISMATCH_ERR: 17,
    SECURITY_ERR: 18,
    NETWORK_ERR: 19,
    ABORT_ERR: 20,
    URL_MISMATCH_ERR: 21,
    QUOTA_EXCEEDED_ERR: 22,
    TIMEOUT_ERR: 23,
    INVALID_NODE_TYPE_ERR: 24,
    DATA_CLONE_ERR: 25,
  };

  // The internal slots (name, message), stamped on an object made elsewhere: a base
  // class whose constructor returns its argument lets a subclass add private fields to
  // any object. `Slots.has` is the brand check.
  class Stamp {
    constructor(object) {
      return object;
    }
  }
  class Slots extends Stamp {
    #name;
    #message;
    constructor(object, name, message) {
      super(object);
      this.#name = name;
      this.#message = message;
    }
    static nameOf(object) {
      return object.#name;
    }
    static messageOf(object) {
      return object.#message;
    }
  }

  // A function rather than a class: WebIDL wants the interface object's [[Prototype]] to
  // be Function.prototype while the instances are errors (with [[ErrorData]] and a
  // `stack`, as WebIDL's "DOMException custom bindings" asks), so an instance is made by
  // the Error constructor with the new target's prototype.
  function DOMException(message = "", name = "Error") {
    if (new.target === undefined) {
      throw new TypeErrorCtor("Class constructor DOMException cannot be invoked without 'new'");
    }
    message = toDOMString(message);
    name = toDOMString(name);
    const self = construct(ErrorCtor, [], new.target);
    // The stack starts at the caller, as a browser's does, not inside this function.
    if (captureStackTrace !== undefined) captureStackTrace(self, new.target);
    new Slots(self, name, message);
    return self;
  }
  const proto = DOMException.prototype;
  setPrototypeOf(proto, ErrorPrototype);
  defineProperty(DOMException, "prototype", { __proto__: null, writable: false });
  const members = getOwnPropertyDescriptors({
    get name() {
      return Slots.nameOf(this);
    },
    get message() {
      return Slots.messageOf(this);
    },
    get code() {
      const code = codes[Slots.nameOf(this)];
      return code === undefined ? 0 : code;
    },
  });
  const memberNames = getOwnPropertyNames(members);
  for (let i = 0; i < memberNames.length; i++) {
    defineProperty(proto, memberNames[i], members[memberNames[i]]);
  }
  defineInterface(DOMException, "DOMException", constants);
  exposeInterface("DOMException", DOMException);

  // For the other APIs (and for `dom_exception::throw` in Rust): a DOMException made by
  // this constructor, whatever a script did to the global `DOMException`.
  const create = (name, message) => new DOMException(message, name);
  return { __proto__: null, DOMException, create };
});
