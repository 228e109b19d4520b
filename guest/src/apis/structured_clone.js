// The JavaScript part of `structuredClone` (see structured_clone.rs). Runs once, at
// pre-initialization, in the run context (strict mode); called with the natives
// `{ classOf }` and the exports so far (it uses `webidl`, `dom_exception`, `url` and
// `crypto`). Everything it uses is captured here, before any script runs.
((natives, { webidl, dom_exception, url, crypto }) => {
  const classOf = natives.classOf;
  const { exposeOperation, requireArguments, dictionary } = webidl;
  const domException = dom_exception.create;
  const g = globalThis;
  const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, setPrototypeOf, keys: objectKeys, hasOwn } = Object;
  const apply = Reflect.apply;
  const uncurry = (f) => Function.prototype.call.bind(f);
  const getter = (object, name) => uncurry(getOwnPropertyDescriptor(object, name).get);
  const push = uncurry(Array.prototype.push);
  // A list for internal use: an array without a prototype, so that no index setter a
  // script puts on Array.prototype sees (or stops) what goes into it.
  const newList = () => setPrototypeOf([], null);
  const ObjectCtor = Object;
  const ObjectPrototype = Object.prototype;
  const ArrayPrototype = Array.prototype;
  const ArrayCtor = Array;
  const BooleanCtor = Boolean;
  const NumberCtor = Number;
  const StringCtor = String;
  const DateCtor = Date;
  const RegExpCtor = RegExp;
  const MapCtor = Map;
  const SetCtor = Set;
  const ArrayBufferCtor = ArrayBuffer;
  const DataViewCtor = DataView;
  const Uint8ArrayCtor = Uint8Array;
  const TypeErrorCtor = TypeError;
  const SymbolIterator = Symbol.iterator;

  const mapGet = uncurry(Map.prototype.get);
  const mapSet = uncurry(Map.prototype.set);
  const mapHas = uncurry(Map.prototype.has);
  const mapEntries = uncurry(Map.prototype.entries);
  const mapIteratorNext = uncurry(getPrototypeOf(new Map().entries()).next);
  const setAdd = uncurry(Set.prototype.add);
  const setValues = uncurry(Set.prototype.values);
  const setIteratorNext = uncurry(getPrototypeOf(new Set().values()).next);
  const booleanValue = uncurry(Boolean.prototype.valueOf);
  const numberValue = uncurry(Number.prototype.valueOf);
  const stringValue = uncurry(String.prototype.valueOf);
  const bigintValue = uncurry(BigInt.prototype.valueOf);
  const dateValue = uncurry(Date.prototype.getTime);
  const regexpSource = getter(RegExp.prototype, "source");
  // The flags from the regexp's own internal slot, one getter each (the `flags` getter
  // would read properties a script can redefine on the instance).
  const regexpFlags = [];
  for (const [name, letter] of [["hasIndices", "d"], ["global", "g"], ["ignoreCase", "i"], ["multiline", "m"],
    ["dotAll", "s"], ["unicode", "u"], ["unicodeSets", "v"], ["sticky", "y"]]) {
    if (getOwnPropertyDescriptor(RegExp.prototype, name) !== undefined) push(regexpFlags, [getter(RegExp.prototype, name), letter]);
  }
  const TypedArrayPrototype = getPrototypeOf(Uint8Array.prototype);
  const typedArrayBuffer = getter(TypedArrayPrototype, "buffer");
  const typedArrayByteOffset = getter(TypedArrayPrototype, "byteOffset");
  const typedArrayLength = getter(TypedArrayPrototype, "length");
  const dataViewBuffer = getter(DataView.prototype, "buffer");
  const dataViewByteOffset = getter(DataView.prototype, "byteOffset");
  const dataViewByteLength = getter(DataView.prototype, "byteLength");
  const arrayBufferByteLength = getter(ArrayBuffer.prototype, "byteLength");
  const arrayBufferDetached = getter(ArrayBuffer.prototype, "detached");
  const arrayBufferResizable = getter(ArrayBuffer.prototype, "resizable");
  const arrayBufferMaxByteLength = getter(ArrayBuffer.prototype, "maxByteLength");
  const arrayBufferResize = uncurry(ArrayBuffer.prototype.resize);
  const arrayBufferTransfer = uncurry(ArrayBuffer.prototype.transfer);
  const typedArraySet = uncurry(TypedArrayPrototype.set);
  const domExceptionName = getter(dom_exception.DOMException.prototype, "name");
  const domExceptionMessage = getter(dom_exception.DOMException.prototype, "message");

  // The class of each kind of object, as QuickJS numbers them (read from one of each,
  // so nothing here depends on QuickJS's internal numbering).
  const CLASS_OBJECT = classOf({});
  const CLASS_ARRAY = classOf([]);
  const CLASS_ERROR = classOf(new Error());
  const CLASS_BOOLEAN = classOf(new Boolean(false));
  const CLASS_NUMBER = classOf(new Number(0));
  const CLASS_STRING = classOf(new String(""));
  const CLASS_BIGINT = classOf(Object(0n));
  const CLASS_DATE = classOf(new Date(0));
  const CLASS_REGEXP = classOf(/x/);
  const CLASS_MAP = classOf(new Map());
  const CLASS_SET = classOf(new Set());
  const CLASS_ARRAY_BUFFER = classOf(new ArrayBuffer(0));
  const CLASS_DATA_VIEW = classOf(new DataView(new ArrayBuffer(0)));
  const CLASS_PROXY = classOf(new Proxy({}, {}));
  const typedArrays = new MapCtor();
  for (const ctor of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
    typeof Float16Array === "function" ? Float16Array : undefined, Float32Array, Float64Array, BigInt64Array, BigUint64Array]) {
    if (ctor !== undefined) mapSet(typedArrays, classOf(new ctor(0)), ctor);
  }
  // The error constructors a clone may have (any other name becomes "Error").
  const errorCtors = { __proto__: null, Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };

  const dataCloneError = (what) => domException("DataCloneError", `${what} could not be cloned`);
  const isDOMException = (value) => {
    try {
      domExceptionName(value);
      return true;
    } catch (_) {
      return false;
    }
  };
  // Platform objects of the other APIs that are not serializable.
  const isUnserializablePlatformObject = (value) =>
    url.isURL(value) || url.isURLSearchParams(value) || crypto.isPlatformObject(value);

  // Descriptor objects, reused for every property defined on a clone.
  const dataProperty = { __proto__: null, value: undefined, writable: true, enumerable: true, configurable: true };
  const hiddenProperty = { __proto__: null, value: undefined, writable: true, enumerable: false, configurable: true };
  const define = (target, key, value, descriptor) => {
    descriptor.value = value;
    defineProperty(target, key, descriptor);
    descriptor.value = undefined;
  };

  const copyBuffer = (source) => {
    if (arrayBufferDetached(source)) throw dataCloneError("A detached ArrayBuffer");
    const length = arrayBufferByteLength(source);
    const target = arrayBufferResizable(source)
      ? new ArrayBufferCtor(length, { maxByteLength: arrayBufferMaxByteLength(source) })
      : new ArrayBufferCtor(length);
    if (length > 0) typedArraySet(new Uint8ArrayCtor(target), new Uint8ArrayCtor(source));
    return target;
  };

  // The work still to do for the containers met so far: a stack of frames, each a kind,
  // a source, its clone, the list of what is left to clone (keys, or a Map's or Set's
  // items) and how far along it is. The clone is depth first, one item at a time, as
  // the standard's recursive serialization is (so getters run in its order), but on
  // this stack rather than the native one: a deep graph costs heap, not stack.
  //
  // A property of a clone is CreateDataProperty in the standard. An assignment is much
  // faster than defineProperty in QuickJS and does the same unless the prototype chain
  // has the key (`__proto__`, or a setter or non-writable property a script put on
  // Object.prototype or Array.prototype): only then is it defined.
  const OBJECT = 0, ARRAY = 1, MAP = 2, SET = 3, CAUSE = 4;

  const cloneGraph = (root, memory) => {
    const kinds = newList();
    const sources = newList();
    const targets = newList();
    const lists = newList();
    const positions = newList();
    const pending = newList();
    let top = 0;
    const pushFrame = (kind, source, target, list) => {
      kinds[top] = kind;
      sources[top] = source;
      targets[top] = target;
      lists[top] = list;
      positions[top] = 0;
      pending[top] = undefined;
      top++;
    };
    const listOf = (iterator, next, pairs) => {
      const list = newList();
      for (;;) {
        const step = next(iterator);
        if (step.done) return list;
        if (pairs) push(list, step.value[0], step.value[1]);
        else push(list, step.value);
      }
    };

    // The clone of `value`: itself for a primitive; for an object, its clone from
    // `memory`, or a new one, registered there (with a frame pushed for what it holds).
    const shallow = (value) => {
      const type = typeof value;
      if (type !== "object" && type !== "function") {
        if (type === "symbol") throw dataCloneError("A Symbol");
        return value;
      }
      if (value === null) return value;
      const seen = mapGet(memory, value);
      if (seen !== undefined) return seen;
      if (type === "function") throw dataCloneError("A function");
      const cls = classOf(value);
      let target;
      if (cls === CLASS_OBJECT) {
        if (value === g) throw dataCloneError("The global object");
        // The platform objects all have prototypes of their own: an object whose
        // prototype is Object.prototype or null needs no brand checks.
        const proto = getPrototypeOf(value);
        if (proto !== ObjectPrototype && proto !== null) {
          if (crypto.isCryptoKey(value)) {
            target = crypto.cloneKey(value);
            mapSet(memory, value, target);
            return target;
          }
          if (isUnserializablePlatformObject(value)) throw dataCloneError("A platform object");
        }
        target = {};
        mapSet(memory, value, target);
        pushFrame(OBJECT, value, target, objectKeys(value));
        return target;
      } else if (cls === CLASS_ARRAY) {
        target = new ArrayCtor(value.length);
        mapSet(memory, value, target);
        pushFrame(ARRAY, value, target, objectKeys(value));
        return target;
      } else if (cls === CLASS_ERROR) {
        if (isDOMException(value)) {
          target = domException(domExceptionName(value), domExceptionMessage(value));
          mapSet(memory, value, target);
          return target;
        }
        let name = value.name;
        if (typeof name !== "string" || errorCtors[name] === undefined) name = "Error";
        const messageDescriptor = getOwnPropertyDescriptor(value, "message");
        const message =
          messageDescriptor !== undefined && hasOwn(messageDescriptor, "value") ? `${messageDescriptor.value}` : undefined;
        const stack = value.stack;
        target = new errorCtors[name]();
        if (message !== undefined) define(target, "message", message, hiddenProperty);
        if (typeof stack === "string") define(target, "stack", stack, hiddenProperty);
        mapSet(memory, value, target);
        // Beyond the standard's name and message (and stack, which it asks for): an own
        // `cause`, cloned as any value is, as the engines that clone it do.
        const causeDescriptor = getOwnPropertyDescriptor(value, "cause");
        if (causeDescriptor !== undefined && hasOwn(causeDescriptor, "value")) {
          pushFrame(CAUSE, value, target, [causeDescriptor.value]);
        }
        return target;
      } else if (cls === CLASS_BOOLEAN) {
        target = new BooleanCtor(booleanValue(value));
      } else if (cls === CLASS_NUMBER) {
        target = new NumberCtor(numberValue(value));
      } else if (cls === CLASS_STRING) {
        target = new StringCtor(stringValue(value));
      } else if (cls === CLASS_BIGINT) {
        target = ObjectCtor(bigintValue(value));
      } else if (cls === CLASS_DATE) {
        target = new DateCtor(dateValue(value));
      } else if (cls === CLASS_REGEXP) {
        let flags = "";
        for (let i = 0; i < regexpFlags.length; i++) if (regexpFlags[i][0](value)) flags += regexpFlags[i][1];
        target = new RegExpCtor(regexpSource(value), flags);
      } else if (cls === CLASS_ARRAY_BUFFER) {
        target = copyBuffer(value);
      } else if (cls === CLASS_DATA_VIEW) {
        const buffer = shallow(dataViewBuffer(value));
        target = new DataViewCtor(buffer, dataViewByteOffset(value), dataViewByteLength(value));
      } else if (cls === CLASS_MAP) {
        target = new MapCtor();
        mapSet(memory, value, target);
        pushFrame(MAP, value, target, listOf(mapEntries(value), mapIteratorNext, true));
        return target;
      } else if (cls === CLASS_SET) {
        target = new SetCtor();
        mapSet(memory, value, target);
        pushFrame(SET, value, target, listOf(setValues(value), setIteratorNext, false));
        return target;
      } else if (cls === CLASS_PROXY) {
        throw dataCloneError("A Proxy");
      } else {
        const ctor = mapGet(typedArrays, cls);
        if (ctor === undefined) {
          // WeakMap, WeakSet, WeakRef, Promise, a SharedArrayBuffer (this realm is not
          // cross-origin isolated), generators and iterators, arguments, a module
          // namespace, a Symbol object...: anything with internal slots not listed.
          throw dataCloneError("An object of this kind");
        }
        // The buffer first (the standard serializes it into the same memory, so views
        // that share a buffer share its clone).
        const buffer = shallow(typedArrayBuffer(value));
        target = new ctor(buffer, typedArrayByteOffset(value), typedArrayLength(value));
      }
      mapSet(memory, value, target);
      return target;
    };

    const result = shallow(root);
    while (top > 0) {
      const i = top - 1;
      const list = lists[i];
      const position = positions[i];
      const kind = kinds[i];
      const target = targets[i];
      if (position >= list.length) {
        top--;
        sources[top] = targets[top] = lists[top] = pending[top] = undefined;
        continue;
      }
      positions[i] = position + 1;
      if (kind <= ARRAY) {
        const source = sources[i];
        const key = list[position];
        if (!hasOwn(source, key)) continue;
        const item = source[key];
        // `shallow` may push the value's own frame, which is then done before the next
        // key of this one: depth first.
        const out = item === null || (typeof item !== "object" && typeof item !== "function" && typeof item !== "symbol")
          ? item
          : shallow(item);
        if (key in (kind === OBJECT ? ObjectPrototype : ArrayPrototype)) define(target, key, out, dataProperty);
        else target[key] = out;
      } else if (kind === MAP) {
        // A key, then its value, each completely before the other.
        if ((position & 1) === 0) {
          pending[i] = shallow(list[position]);
        } else {
          mapSet(target, pending[i], shallow(list[position]));
          pending[i] = undefined;
        }
      } else if (kind === SET) {
        setAdd(target, shallow(list[position]));
      } else {
        define(target, "cause", shallow(list[position]), hiddenProperty);
      }
    }
    return result;
  };

  // The transfer list (sequence<object>).
  const transferList = (options) => {
    const dict = dictionary(options, "structuredClone");
    if (dict === undefined) return [];
    const value = dict.transfer;
    if (value === undefined) return [];
    if (value === null || (typeof value !== "object" && typeof value !== "function")) {
      throw new TypeErrorCtor("structuredClone: transfer is not a sequence");
    }
    const method = value[SymbolIterator];
    if (typeof method !== "function") throw new TypeErrorCtor("structuredClone: transfer is not iterable");
    const iterator = apply(method, value, []);
    const next = iterator.next;
    const list = newList();
    for (;;) {
      const step = apply(next, iterator, []);
      if (step === null || typeof step !== "object") throw new TypeErrorCtor("structuredClone: bad iterator result");
      if (step.done) return list;
      const item = step.value;
      if (item === null || (typeof item !== "object" && typeof item !== "function")) {
        throw new TypeErrorCtor("structuredClone: each transferable must be an object");
      }
      push(list, item);
    }
  };

  // StructuredSerializeWithTransfer, then StructuredDeserializeWithTransfer, at once.
  // Only ArrayBuffers are transferable here (there are no MessagePorts or streams). A
  // transferred buffer's clone is made when the transfer list is read, so that the
  // clones of its views can point at it, and gets its bytes at the end, when the source
  // is detached: the standard's order, where nothing is detached if cloning fails.
  // A method, so that it is not a constructor (as WebIDL's operations are not).
  const { structuredClone } = { structuredClone(value, options = undefined) {
    requireArguments(arguments.length, 1, "structuredClone");
    const transfers = transferList(options);
    const memory = new MapCtor();
    for (let i = 0; i < transfers.length; i++) {
      const source = transfers[i];
      if (classOf(source) !== CLASS_ARRAY_BUFFER) throw dataCloneError("A transferable that is not an ArrayBuffer");
      if (mapHas(memory, source)) throw dataCloneError("An ArrayBuffer listed twice for transfer");
      const detached = arrayBufferDetached(source);
      const length = detached ? 0 : arrayBufferByteLength(source);
      mapSet(memory, source, !detached && arrayBufferResizable(source)
        ? new ArrayBufferCtor(length, { maxByteLength: arrayBufferMaxByteLength(source) })
        : new ArrayBufferCtor(length));
    }
    const result = cloneGraph(value, memory);
    for (let i = 0; i < transfers.length; i++) {
      if (arrayBufferDetached(transfers[i])) throw dataCloneError("A detached ArrayBuffer");
    }
    for (let i = 0; i < transfers.length; i++) {
      const target = mapGet(memory, transfers[i]);
      const moved = arrayBufferTransfer(transfers[i]);
      const length = arrayBufferByteLength(moved);
      // A resizable buffer may have changed size while the graph was cloned.
      if (length !== arrayBufferByteLength(target)) arrayBufferResize(target, length);
      if (length > 0) typedArraySet(new Uint8ArrayCtor(target), new Uint8ArrayCtor(moved));
    }
    return result;
  } };

  exposeOperation("structuredClone", structuredClone);
});
