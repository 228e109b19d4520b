// The JavaScript part of `crypto` (see crypto.rs). Runs once, at pre-initialization, in
// the run context (strict mode); called with the natives `{ getRandomValues, randomUUID,
// copy, digest, hmacSign, hmacVerify }` and the exports so far (it uses `webidl` and
// `dom_exception`). Everything it uses is captured here, before any script runs.
// Returns `{ isCryptoKey, cloneKey, isPlatformObject }` for `structuredClone`.
((natives, { webidl, dom_exception }) => {
  const { defineInterface, exposeInterface, requireArguments, toDOMString, illegalConstructor } = webidl;
  const domException = dom_exception.create;
  const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, setPrototypeOf, freeze } = Object;
  const ArrayPrototype = Array.prototype;
  const apply = Reflect.apply;
  const uncurry = (f) => Function.prototype.call.bind(f);
  const getter = (object, name) => uncurry(getOwnPropertyDescriptor(object, name).get);
  const push = uncurry(Array.prototype.push);
  // A list for internal use: an array without a prototype, so that no index setter a
  // script puts on Array.prototype sees (or stops) what goes into it.
  const newList = () => setPrototypeOf([], null);
  const floor = Math.floor;
  const charCodeAt = uncurry(String.prototype.charCodeAt);
  const fromCharCode = String.fromCharCode;
  const PromiseCtor = Promise;
  const TypeErrorCtor = TypeError;
  const Uint8ArrayCtor = Uint8Array;
  const isView = ArrayBuffer.isView;
  const SymbolIterator = Symbol.iterator;
  const TypedArrayPrototype = getPrototypeOf(Uint8Array.prototype);
  const typedArrayName = getter(TypedArrayPrototype, Symbol.toStringTag);
  const typedArrayBuffer = getter(TypedArrayPrototype, "buffer");
  const typedArrayByteOffset = getter(TypedArrayPrototype, "byteOffset");
  const typedArrayByteLength = getter(TypedArrayPrototype, "byteLength");
  const dataViewBuffer = getter(DataView.prototype, "buffer");
  const dataViewByteOffset = getter(DataView.prototype, "byteOffset");
  const dataViewByteLength = getter(DataView.prototype, "byteLength");
  const arrayBufferByteLength = getter(ArrayBuffer.prototype, "byteLength");
  const arrayBufferDetached = getter(ArrayBuffer.prototype, "detached");

  const isObject = (value) => value !== null && (typeof value === "object" || typeof value === "function");
  const rejectWith = (error) => new PromiseCtor((_, reject) => reject(error));
  // A promise-returning operation: WebIDL turns whatever it throws, the argument
  // conversions included, into a rejection.
  const promised = (body) => {
    try {
      const result = body();
      return new PromiseCtor((resolve) => resolve(result));
    } catch (error) {
      return rejectWith(error);
    }
  };

  // Whether `buffer` is an ArrayBuffer (not a SharedArrayBuffer): its getter's brand check.
  const isArrayBuffer = (buffer) => {
    try {
      arrayBufferByteLength(buffer);
      return true;
    } catch (_) {
      return false;
    }
  };
  // WebIDL's BufferSource (ArrayBuffer or a view on one; no SharedArrayBuffer, as the
  // IDL has no [AllowShared]), as a Uint8Array over the same bytes (empty when detached).
  const bytesOf = (value, context) => {
    if (isObject(value)) {
      if (isView(value)) {
        const typed = typedArrayName(value) !== undefined;
        const buffer = typed ? typedArrayBuffer(value) : dataViewBuffer(value);
        if (!isArrayBuffer(buffer)) throw new TypeErrorCtor(`${context}: a view on a SharedArrayBuffer is not allowed`);
        if (arrayBufferDetached(buffer)) return new Uint8ArrayCtor(0);
        return typed
          ? new Uint8ArrayCtor(buffer, typedArrayByteOffset(value), typedArrayByteLength(value))
          : new Uint8ArrayCtor(buffer, dataViewByteOffset(value), dataViewByteLength(value));
      }
      if (isArrayBuffer(value)) return arrayBufferDetached(value) ? new Uint8ArrayCtor(0) : new Uint8ArrayCtor(value);
    }
    throw new TypeErrorCtor(`${context}: the argument is not an ArrayBuffer or an ArrayBufferView`);
  };

  // WebIDL's sequence conversion, into an array.
  const sequence = (value, context) => {
    if (!isObject(value)) throw new TypeErrorCtor(`${context}: the argument is not a sequence`);
    const method = value[SymbolIterator];
    if (typeof method !== "function") throw new TypeErrorCtor(`${context}: the argument is not iterable`);
    const iterator = apply(method, value, []);
    if (!isObject(iterator)) throw new TypeErrorCtor(`${context}: the iterator is not an object`);
    const next = iterator.next;
    const items = newList();
    for (;;) {
      const result = apply(next, iterator, []);
      if (!isObject(result)) throw new TypeErrorCtor(`${context}: the iterator result is not an object`);
      if (result.done) return items;
      push(items, result.value);
    }
  };
  // A WebIDL enumeration value.
  const enumValue = (value, allowed, context) => {
    const text = toDOMString(value);
    for (let i = 0; i < allowed.length; i++) if (allowed[i] === text) return text;
    throw new TypeErrorCtor(`${context}: "${text}" is not a valid value`);
  };
  const KEY_FORMATS = freeze(["raw", "spki", "pkcs8", "jwk"]);
  // In the order of the KeyUsage enumeration, which is the order of a key's usages.
  const KEY_USAGES = freeze(["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"]);
  // sequence<KeyUsage>, then the standard's "normalized value": each usage once, in
  // the enumeration's order.
  const toKeyUsages = (value, context) => {
    const given = sequence(value, context);
    const present = [false, false, false, false, false, false, false, false];
    for (let i = 0; i < given.length; i++) {
      const usage = enumValue(given[i], KEY_USAGES, context);
      for (let j = 0; j < KEY_USAGES.length; j++) if (KEY_USAGES[j] === usage) present[j] = true;
    }
    const usages = newList();
    for (let j = 0; j < KEY_USAGES.length; j++) if (present[j]) push(usages, KEY_USAGES[j]);
    return usages;
  };
  const hasUsage = (usages, usage) => {
    for (let i = 0; i < usages.length; i++) if (usages[i] === usage) return true;
    return false;
  };
  // [EnforceRange] unsigned long.
  const enforceRangeUnsignedLong = (value, context) => {
    const number = +value;
    if (number !== number || number === Infinity || number === -Infinity) {
      throw new TypeErrorCtor(`${context}: ${number} is not a finite number`);
    }
    const integer = number < 0 ? -floor(-number) : floor(number);
    if (integer < 0 || integer > 0xffffffff) throw new TypeErrorCtor(`${context}: ${integer} is out of range`);
    return integer;
  };
  // ASCII uppercase, which is how the standard compares algorithm names (a non-ASCII
  // letter that uppercases to an ASCII one must not match).
  const asciiUpper = (text) => {
    let out = "";
    for (let i = 0; i < text.length; i++) {
      const c = charCodeAt(text, i);
      out += fromCharCode(c >= 0x61 && c <= 0x7a ? c - 0x20 : c);
    }
    return out;
  };

  // The digest algorithms: their numbers in crypto.rs and their block sizes in bits.
  const HASHES = freeze({
    __proto__: null,
    "SHA-1": freeze({ __proto__: null, id: 1, block: 512 }),
    "SHA-256": freeze({ __proto__: null, id: 256, block: 512 }),
    "SHA-384": freeze({ __proto__: null, id: 384, block: 1024 }),
    "SHA-512": freeze({ __proto__: null, id: 512, block: 1024 }),
  });
  const HASH_NAMES = freeze({ __proto__: null, "SHA-1": "SHA-1", "SHA-256": "SHA-256", "SHA-384": "SHA-384", "SHA-512": "SHA-512" });

  // A normalized algorithm is a record `{ name, hash?, length? }` (hash a name).
  // The registered algorithms of each operation (section 18.4.4 "Normalizing an
  // algorithm"), by ASCII-uppercased name: the registered name and the conversion of
  // the operation's parameters dictionary.
  const hmacParams = (alg, name, context) => {
    const hashValue = alg.hash;
    if (hashValue === undefined) throw new TypeErrorCtor(`${context}: the HMAC parameters need a hash`);
    const hash = normalize("digest", hashValue, context).name;
    const lengthValue = alg.length;
    const length = lengthValue === undefined ? undefined : enforceRangeUnsignedLong(lengthValue, `${context}: length`);
    return { __proto__: null, name, hash, length };
  };
  const noParams = (_alg, name) => ({ __proto__: null, name });
  const REGISTERED = freeze({
    __proto__: null,
    digest: freeze({ __proto__: null, "SHA-1": noParams, "SHA-256": noParams, "SHA-384": noParams, "SHA-512": noParams }),
    sign: freeze({ __proto__: null, HMAC: noParams }),
    verify: freeze({ __proto__: null, HMAC: noParams }),
    importKey: freeze({ __proto__: null, HMAC: hmacParams }),
    generateKey: freeze({ __proto__: null, HMAC: hmacParams }),
  });
  const REGISTERED_NAMES = freeze({ __proto__: null, ...HASH_NAMES, HMAC: "HMAC" });

  // "Normalize an algorithm": a string is `{ name }`; the name is looked up without
  // regard to ASCII case among the operation's registered algorithms
  // (NotSupportedError if absent), then the parameters are converted.
  const normalize = (op, alg, context) => {
    if (!isObject(alg)) alg = { name: toDOMString(alg) };
    const nameValue = alg.name;
    if (nameValue === undefined) throw new TypeErrorCtor(`${context}: the algorithm needs a name`);
    const upper = asciiUpper(toDOMString(nameValue));
    const registered = REGISTERED[op];
    const convert = registered === undefined ? undefined : registered[upper];
    if (convert === undefined) {
      throw domException("NotSupportedError", `${context}: the algorithm ${toDOMString(nameValue)} is not supported for ${op}`);
    }
    return convert(alg, REGISTERED_NAMES[upper], context);
  };

  const token = {};
  let newKey, cloneKey, keyMaterial, keyAlgorithm, keyUsagesOf, keyExtractable, isCryptoKey;

  class CryptoKey {
    #type;
    #extractable;
    // The normalized algorithm, and what `algorithm` returns (made once: [SameObject]-like
    // caching, as the standard's [[algorithm]] slot holds one object).
    #algorithm;
    #algorithmObject;
    #usages;
    #usagesObject;
    #material;

    constructor() {
      if (arguments[0] !== token) throw illegalConstructor();
    }

    static {
      newKey = (type, extractable, algorithm, usages, material) => {
        const key = new CryptoKey(token);
        key.#type = type;
        key.#extractable = extractable;
        key.#algorithm = algorithm;
        key.#usages = usages;
        key.#material = material;
        // HmacKeyAlgorithm as a JavaScript object: members in WebIDL's order (the
        // inherited `name`, then `hash` and `length`).
        key.#algorithmObject = { name: algorithm.name, hash: { name: algorithm.hash }, length: algorithm.length };
        const exposed = newList();
        for (let i = 0; i < usages.length; i++) push(exposed, usages[i]);
        key.#usagesObject = setPrototypeOf(exposed, ArrayPrototype);
        return key;
      };
      // The key's serialization and deserialization steps (CryptoKey is serializable), at once.
      cloneKey = (key) =>
        newKey(key.#type, key.#extractable, key.#algorithm, key.#usages, natives.copy(new Uint8ArrayCtor(key.#material)));
      isCryptoKey = (value) => isObject(value) && #material in value;
      keyMaterial = (key) => key.#material;
      keyAlgorithm = (key) => key.#algorithm;
      keyUsagesOf = (key) => key.#usages;
      keyExtractable = (key) => key.#extractable;
    }

    get type() {
      return this.#type;
    }
    get extractable() {
      return this.#extractable;
    }
    get algorithm() {
      return this.#algorithmObject;
    }
    get usages() {
      return this.#usagesObject;
    }
  }

  // WebIDL's conversion to the CryptoKey interface type.
  const cryptoKey = (value, context) => {
    if (!isCryptoKey(value)) throw new TypeErrorCtor(`${context}: the key is not a CryptoKey`);
    return value;
  };

  // HMAC (section 29): the key's checks for sign and verify.
  const usableKey = (normalized, key, usage, context) => {
    if (keyAlgorithm(key).name !== normalized.name) {
      throw domException("InvalidAccessError", `${context}: the key is not a ${normalized.name} key`);
    }
    if (!hasUsage(keyUsagesOf(key), usage)) {
      throw domException("InvalidAccessError", `${context}: the key's usages do not include "${usage}"`);
    }
  };
  const hmacUsagesOnly = (usages, context) => {
    for (let i = 0; i < usages.length; i++) {
      if (usages[i] !== "sign" && usages[i] !== "verify") {
        throw domException("SyntaxError", `${context}: an HMAC key can only sign and verify, not ${usages[i]}`);
      }
    }
  };
  const noEmptyUsages = (usages, context) => {
    if (usages.length === 0) throw domException("SyntaxError", `${context}: a secret key needs at least one usage`);
  };

  // Every operation of SubtleCrypto that has no algorithm here: after the argument
  // conversions, the normalization finds nothing registered.
  const unsupported = (op, alg, context) => {
    normalize(op, alg, context);
    throw domException("NotSupportedError", `${context}: not supported`);
  };

  class SubtleCrypto {
    constructor() {
      if (arguments[0] !== token) throw illegalConstructor();
    }

    encrypt(algorithm, key, data) {
      return promised(() => {
        subtleBrand(this);
        requireArguments(arguments.length, 3, "SubtleCrypto.encrypt");
        cryptoKey(key, "SubtleCrypto.encrypt");
        bytesOf(data, "SubtleCrypto.encrypt");
        return unsupported("encrypt", algorithm, "SubtleCrypto.encrypt");
      });
    }

    decrypt(algorithm, key, data) {
      return promised(() => {
        subtleBrand(this);
        requireArguments(arguments.length, 3, "SubtleCrypto.decrypt");
        cryptoKey(key, "SubtleCrypto.decrypt");
        bytesOf(data, "SubtleCrypto.decrypt");
        return unsupported("decrypt", algorithm, "SubtleCrypto.decrypt");
      });
    }

    sign(algorithm, key, data) {
      return promised(() => {
        subtleBrand(this);
        requireArguments(arguments.length, 3, "SubtleCrypto.sign");
        cryptoKey(key, "SubtleCrypto.sign");
        const bytes = bytesOf(data, "SubtleCrypto.sign");
        const normalized = normalize("sign", algorithm, "SubtleCrypto.sign");
        usableKey(normalized, key, "sign", "SubtleCrypto.sign");
        return natives.hmacSign(HASHES[keyAlgorithm(key).hash].id, new Uint8ArrayCtor(keyMaterial(key)), bytes);
      });
    }

    verify(algorithm, key, signature, data) {
      return promised(() => {
        subtleBrand(this);
        requireArguments(arguments.length, 4, "SubtleCrypto.verify");
        cryptoKey(key, "SubtleCrypto.verify");
        const signatureBytes = bytesOf(signature, "SubtleCrypto.verify");
        const bytes = bytesOf(data, "SubtleCrypto.verify");
        const normalized = normalize("verify", algorithm, "SubtleCrypto.verify");
        usableKey(normalized, key, "verify", "SubtleCrypto.verify");
        return natives.hmacVerify(HASHES[keyAlgorithm(key).hash].id, new Uint8ArrayCtor(keyMaterial(key)), signatureBytes, bytes);
      });
    }

    digest(algorithm, data) {
      return promised(() => {
        subtleBrand(this);
        requireArguments(arguments.length, 2, "SubtleCrypto.digest");
        const bytes = bytesOf(data, "SubtleCrypto.digest");
        const normalized = normalize("digest", algorithm, "SubtleCrypto.digest");
        return natives.digest(HASHES[normalized.name].id, bytes);
      });
    }

    generateKey(algorithm, extractable, keyUsages) {
      return promised(() => {
        subtleBrand(this);
        const context = "SubtleCrypto.generateKey";
        requireArguments(arguments.length, 3, context);
        const usages = toKeyUsages(keyUsages, context);
        const normalized = normalize("generateKey", algorithm, context);
        hmacUsagesOnly(usages, context);
        let length = normalized.length;
        if (length === undefined) length = HASHES[normalized.hash].block;
        else if (length === 0) throw domException("OperationError", `${context}: the length must not be zero`);
        const material = new Uint8ArrayCtor((length + 7) >> 3);
        natives.getRandomValues(material);
        noEmptyUsages(usages, context);
        return newKey("secret", !!extractable, { __proto__: null, name: "HMAC", hash: normalized.hash, length }, usages, natives.copy(material));
      });
    }

    deriveKey(algorithm, baseKey, derivedKeyType, extractable, keyUsages) {
      return promised(() => {
        subtleBrand(this);
        requireArguments(arguments.length, 5, "SubtleCrypto.deriveKey");
        cryptoKey(baseKey, "SubtleCrypto.deriveKey");
        toKeyUsages(keyUsages, "SubtleCrypto.deriveKey");
        return unsupported("deriveBits", algorithm, "SubtleCrypto.deriveKey");
      });
    }

    deriveBits(algorithm, baseKey, length = null) {
      return promised(() => {
        subtleBrand(this);
        requireArguments(arguments.length, 2, "SubtleCrypto.deriveBits");
        cryptoKey(baseKey, "SubtleCrypto.deriveBits");
        void length;
        return unsupported("deriveBits", algorithm, "SubtleCrypto.deriveBits");
      });
    }

    importKey(format, keyData, algorithm, extractable, keyUsages) {
      return promised(() => {
        subtleBrand(this);
        const context = "SubtleCrypto.importKey";
        requireArguments(arguments.length, 5, context);
        format = enumValue(format, KEY_FORMATS, context);
        // (BufferSource or JsonWebKey): only the BufferSource of the "raw" format is
        // imported here, so anything else fails below.
        const isBufferSource = isObject(keyData) && (isView(keyData) || isArrayBuffer(keyData));
        const usages = toKeyUsages(keyUsages, context);
        const normalized = normalize("importKey", algorithm, context);
        // HMAC's import key steps.
        hmacUsagesOnly(usages, context);
        if (format !== "raw") {
          throw domException("NotSupportedError", `${context}: HMAC keys are imported here in the "raw" format only, not "${format}"`);
        }
        if (!isBufferSource) throw new TypeErrorCtor(`${context}: a raw key must be an ArrayBuffer or an ArrayBufferView`);
        const material = natives.copy(bytesOf(keyData, context));
        const bits = material.byteLength * 8;
        if (bits === 0) throw domException("DataError", `${context}: the key is empty`);
        let length = bits;
        if (normalized.length !== undefined) {
          if (normalized.length > bits || normalized.length <= bits - 8) {
            throw domException("DataError", `${context}: a length of ${normalized.length} bits does not fit a key of ${bits / 8} bytes`);
          }
          length = normalized.length;
        }
        noEmptyUsages(usages, context);
        return newKey("secret", !!extractable, { __proto__: null, name: "HMAC", hash: normalized.hash, length }, usages, material);
      });
    }

    exportKey(format, key) {
      return promised(() => {
        subtleBrand(this);
        const context = "SubtleCrypto.exportKey";
        requireArguments(arguments.length, 2, context);
        format = enumValue(format, KEY_FORMATS, context);
        cryptoKey(key, context);
        if (!keyExtractable(key)) throw domException("InvalidAccessError", `${context}: the key is not extractable`);
        if (format !== "raw") {
          throw domException("NotSupportedError", `${context}: HMAC keys are exported here in the "raw" format only, not "${format}"`);
        }
        return natives.copy(new Uint8ArrayCtor(keyMaterial(key)));
      });
    }

    wrapKey(format, key, wrappingKey, wrapAlgorithm) {
      return promised(() => {
        subtleBrand(this);
        requireArguments(arguments.length, 4, "SubtleCrypto.wrapKey");
        enumValue(format, KEY_FORMATS, "SubtleCrypto.wrapKey");
        cryptoKey(key, "SubtleCrypto.wrapKey");
        cryptoKey(wrappingKey, "SubtleCrypto.wrapKey");
        return unsupported("wrapKey", wrapAlgorithm, "SubtleCrypto.wrapKey");
      });
    }

    unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable, keyUsages) {
      return promised(() => {
        subtleBrand(this);
        requireArguments(arguments.length, 7, "SubtleCrypto.unwrapKey");
        enumValue(format, KEY_FORMATS, "SubtleCrypto.unwrapKey");
        bytesOf(wrappedKey, "SubtleCrypto.unwrapKey");
        cryptoKey(unwrappingKey, "SubtleCrypto.unwrapKey");
        toKeyUsages(keyUsages, "SubtleCrypto.unwrapKey");
        return unsupported("unwrapKey", unwrapAlgorithm, "SubtleCrypto.unwrapKey");
      });
    }
  }
  const subtle = new SubtleCrypto(token);
  // SubtleCrypto has no internal slots: its one instance is the brand.
  const subtleBrand = (value) => {
    if (value !== subtle) throw new TypeErrorCtor("Illegal invocation: not a SubtleCrypto");
  };

  // The integer typed arrays getRandomValues accepts.
  const INTEGER_ARRAYS = freeze({
    __proto__: null,
    Int8Array: true,
    Uint8Array: true,
    Uint8ClampedArray: true,
    Int16Array: true,
    Uint16Array: true,
    Int32Array: true,
    Uint32Array: true,
    BigInt64Array: true,
    BigUint64Array: true,
  });
  // getRandomValues's limit (section 10.1.1): a request for more than this many bytes
  // is a QuotaExceededError.
  const MAX_RANDOM_BYTES = 65536;

  class Crypto {
    #subtle;

    constructor() {
      if (arguments[0] !== token) throw illegalConstructor();
      this.#subtle = subtle;
    }

    get subtle() {
      return this.#subtle;
    }

    getRandomValues(array) {
      this.#subtle; // the brand check: a TypeError for anything but a Crypto
      requireArguments(arguments.length, 1, "Crypto.getRandomValues");
      if (!isObject(array) || !isView(array)) {
        throw new TypeErrorCtor("Crypto.getRandomValues: the argument is not an ArrayBufferView");
      }
      const name = typedArrayName(array);
      const buffer = name !== undefined ? typedArrayBuffer(array) : dataViewBuffer(array);
      if (!isArrayBuffer(buffer)) {
        throw new TypeErrorCtor("Crypto.getRandomValues: a view on a SharedArrayBuffer is not allowed");
      }
      if (name === undefined || INTEGER_ARRAYS[name] !== true) {
        throw domException("TypeMismatchError", `Crypto.getRandomValues: a ${name === undefined ? "DataView" : name} is not an integer array`);
      }
      if (arrayBufferDetached(buffer)) return array;
      const length = typedArrayByteLength(array);
      if (length > MAX_RANDOM_BYTES) {
        throw domException("QuotaExceededError", `Crypto.getRandomValues: ${length} bytes asked for, more than ${MAX_RANDOM_BYTES}`);
      }
      if (length > 0) natives.getRandomValues(new Uint8ArrayCtor(buffer, typedArrayByteOffset(array), length));
      return array;
    }

    randomUUID() {
      this.#subtle; // the brand check: a TypeError for anything but a Crypto
      return natives.randomUUID();
    }
  }

  defineInterface(Crypto, "Crypto");
  defineInterface(SubtleCrypto, "SubtleCrypto");
  defineInterface(CryptoKey, "CryptoKey");
  exposeInterface("Crypto", Crypto);
  exposeInterface("SubtleCrypto", SubtleCrypto);
  exposeInterface("CryptoKey", CryptoKey);

  // `crypto` is a readonly attribute of the global (WindowOrWorkerGlobalScope): an
  // accessor with a getter only, enumerable and configurable as WebIDL's attributes are.
  const cryptoObject = new Crypto(token);
  defineProperty(globalThis, "crypto", {
    __proto__: null,
    get: getOwnPropertyDescriptor({ get crypto() { return cryptoObject; } }, "crypto").get,
    enumerable: true,
    configurable: true,
  });

  // For structuredClone: a CryptoKey is serializable, `crypto` and `crypto.subtle` are
  // platform objects that are not.
  const isPlatformObject = (value) => value === cryptoObject || value === subtle;
  return { __proto__: null, isCryptoKey, cloneKey, isPlatformObject };
});
