// The JavaScript part of `URL` and `URLSearchParams` (see url.rs). Runs once, at
// pre-initialization, in the run context (strict mode); called with the natives
// `{ parse, set, parseQuery, serializeQuery }` and the exports so far (it uses `webidl`).
// Everything it uses is captured here, before any script runs. The classes follow
// WebIDL: operations and attributes are enumerable properties of the prototype, the
// globals are writable, configurable and not enumerable, every method checks its
// receiver (private fields do) and the number of its required arguments. Returns
// `{ isURL, isURLSearchParams }`, brand checks for `structuredClone` (these are
// platform objects, which it must refuse).
(({ parse, set, parseQuery, serializeQuery }, { webidl }) => {
  const { defineInterface, exposeInterface, requireArguments: required } = webidl;
  const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, setPrototypeOf } = Object;
  const ownKeys = Reflect.ownKeys;
  const apply = Reflect.apply;
  const uncurry = (f) => Function.prototype.call.bind(f);
  const push = uncurry(Array.prototype.push);
  // A list for internal use: an array without a prototype, so that no index setter a
  // script puts on Array.prototype sees (or stops) what goes into it.
  const newList = () => setPrototypeOf([], null);
  const sort = uncurry(Array.prototype.sort);
  const toWellFormed = uncurry(String.prototype.toWellFormed);
  const slice = uncurry(String.prototype.slice);
  const MapCtor = Map;
  const ArrayPrototype = Array.prototype;
  const mapGet = uncurry(Map.prototype.get);
  const mapSet = uncurry(Map.prototype.set);
  const TypeErrorCtor = TypeError;
  const SymbolIterator = Symbol.iterator;
  const IteratorPrototype = getPrototypeOf(getPrototypeOf([][SymbolIterator]()));

  // Setter numbers: `setter` in url.rs.
  const HREF = 0, PROTOCOL = 1, USERNAME = 2, PASSWORD = 3, HOST = 4, HOSTNAME = 5, PORT = 6,
    PATHNAME = 7, SEARCH = 8, HASH = 9, QUERY_FROM_PARAMS = 10;
  // Where each getter's value is in the natives' component arrays.
  const C_HREF = 0, C_ORIGIN = 1, C_PROTOCOL = 2, C_USERNAME = 3, C_PASSWORD = 4, C_HOST = 5,
    C_HOSTNAME = 6, C_PORT = 7, C_PATHNAME = 8, C_SEARCH = 9, C_HASH = 10;

  // WebIDL's USVString conversion: ToString (which throws for a Symbol), then lone
  // surrogates replaced by U+FFFD.
  const usv = (value) => toWellFormed(`${value}`);
  const isObject = (value) => value !== null && (typeof value === "object" || typeof value === "function");
  // The natives' flat [name, value, ...] as a list of [name, value] pairs.
  const pairsOf = (flat) => {
    const list = newList();
    for (let i = 0; i + 1 < flat.length; i += 2) push(list, [flat[i], flat[i + 1]]);
    return list;
  };
  const serialize = (list) => {
    const flat = newList();
    for (let i = 0; i < list.length; i++) push(flat, list[i][0], list[i][1]);
    return serializeQuery(flat);
  };
  // WebIDL's sequence conversion: iterates `iterable` with `method`, handing each value
  // to `each`. (WebIDL does not close the iterator when a conversion throws.)
  const iterate = (iterable, method, each) => {
    const iterator = apply(method, iterable, []);
    if (!isObject(iterator)) throw new TypeErrorCtor("the iterator is not an object");
    const next = iterator.next;
    for (;;) {
      const result = apply(next, iterator, []);
      if (!isObject(result)) throw new TypeErrorCtor("the iterator result is not an object");
      if (result.done) return;
      each(result.value);
    }
  };
  const iteratorMethod = (value) => {
    const method = value[SymbolIterator];
    if (method === undefined || method === null) return undefined;
    if (typeof method !== "function") throw new TypeErrorCtor("@@iterator is not callable");
    return method;
  };
  // The URLSearchParams constructor's `init`, as the union
  // (sequence<sequence<USVString>> or record<USVString, USVString> or USVString).
  const listFromInit = (init) => {
    const list = newList();
    if (isObject(init)) {
      const method = iteratorMethod(init);
      if (method !== undefined) {
        iterate(init, method, (pair) => {
          if (!isObject(pair)) throw new TypeErrorCtor("URLSearchParams: each pair must be a sequence");
          const inner = iteratorMethod(pair);
          if (inner === undefined) throw new TypeErrorCtor("URLSearchParams: each pair must be iterable");
          const items = newList();
          iterate(pair, inner, (item) => push(items, usv(item)));
          if (items.length !== 2) {
            throw new TypeErrorCtor("URLSearchParams: each pair must have exactly two items");
          }
          push(list, items);
        });
      } else {
        // A record: own enumerable keys in [[OwnPropertyKeys]] order; a key that
        // converts to one already seen replaces its value in place.
        const positions = new MapCtor();
        const keys = ownKeys(init);
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i];
          const desc = getOwnPropertyDescriptor(init, key);
          if (desc === undefined || !desc.enumerable) continue;
          const name = usv(key);
          const value = usv(init[key]);
          const at = mapGet(positions, name);
          if (at === undefined) {
            mapSet(positions, name, list.length);
            push(list, [name, value]);
          } else {
            list[at][1] = value;
          }
        }
      }
      return list;
    }
    let text = usv(init);
    if (text[0] === "?") text = slice(text, 1);
    return pairsOf(parseQuery(text));
  };

  // Friends of the private fields, set in the classes' static blocks.
  let listOf, attachParams, replaceList, updateFromParams, isURL, isURLSearchParams;

  class URLSearchParams {
    #list = newList();
    // The URL object this belongs to, or null.
    #url = null;

    constructor(init = "") {
      this.#list = listFromInit(init);
    }

    static {
      listOf = (params) => params.#list;
      isURLSearchParams = (value) => typeof value === "object" && value !== null && #list in value;
      attachParams = (url, query) => {
        const params = new URLSearchParams();
        params.#list = pairsOf(parseQuery(query));
        params.#url = url;
        return params;
      };
      replaceList = (params, query) => {
        params.#list = pairsOf(parseQuery(query));
      };
    }

    // The standard's "update steps".
    #update() {
      if (this.#url !== null) updateFromParams(this.#url, serialize(this.#list));
    }

    get size() {
      return this.#list.length;
    }

    append(name, value) {
      const list = this.#list;
      required(arguments.length, 2, "URLSearchParams.append");
      push(list, [usv(name), usv(value)]);
      this.#update();
    }

    delete(name, value = undefined) {
      const list = this.#list;
      required(arguments.length, 1, "URLSearchParams.delete");
      name = usv(name);
      const matchValue = value !== undefined;
      if (matchValue) value = usv(value);
      const kept = newList();
      for (let i = 0; i < list.length; i++) {
        const pair = list[i];
        if (!(pair[0] === name && (!matchValue || pair[1] === value))) push(kept, pair);
      }
      this.#list = kept;
      this.#update();
    }

    get(name) {
      const list = this.#list;
      required(arguments.length, 1, "URLSearchParams.get");
      name = usv(name);
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return list[i][1];
      return null;
    }

    getAll(name) {
      const list = this.#list;
      required(arguments.length, 1, "URLSearchParams.getAll");
      name = usv(name);
      const values = newList();
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) push(values, list[i][1]);
      return setPrototypeOf(values, ArrayPrototype);
    }

    has(name, value = undefined) {
      const list = this.#list;
      required(arguments.length, 1, "URLSearchParams.has");
      name = usv(name);
      const matchValue = value !== undefined;
      if (matchValue) value = usv(value);
      for (let i = 0; i < list.length; i++) {
        if (list[i][0] === name && (!matchValue || list[i][1] === value)) return true;
      }
      return false;
    }

    set(name, value) {
      const list = this.#list;
      required(arguments.length, 2, "URLSearchParams.set");
      name = usv(name);
      value = usv(value);
      const kept = newList();
      let found = false;
      for (let i = 0; i < list.length; i++) {
        const pair = list[i];
        if (pair[0] !== name) {
          push(kept, pair);
        } else if (!found) {
          found = true;
          pair[1] = value;
          push(kept, pair);
        }
      }
      if (!found) push(kept, [name, value]);
      this.#list = kept;
      this.#update();
    }

    sort() {
      // Array.prototype.sort is stable; `<` on strings compares UTF-16 code units.
      sort(this.#list, (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      this.#update();
    }

    toString() {
      return serialize(this.#list);
    }

    entries() {
      return newIterator(this, "key+value");
    }

    keys() {
      return newIterator(this, "key");
    }

    values() {
      return newIterator(this, "value");
    }

    forEach(callback, thisArg = undefined) {
      let list = this.#list;
      required(arguments.length, 1, "URLSearchParams.forEach");
      if (typeof callback !== "function") throw new TypeErrorCtor("URLSearchParams.forEach: the callback is not a function");
      // The list may change under the callback: WebIDL reads it afresh each time.
      for (let i = 0; i < list.length; i++) {
        const pair = list[i];
        apply(callback, thisArg, [pair[1], pair[0], this]);
        list = this.#list;
      }
    }
  }

  // WebIDL's default iterator objects: a prototype of their own ("URLSearchParams
  // Iterator", inheriting %IteratorPrototype%) whose `next` reads the live list.
  class URLSearchParamsIterator {
    #target;
    #kind;
    #index = 0;

    constructor(target, kind) {
      this.#target = target;
      this.#kind = kind;
    }

    next() {
      const list = listOf(this.#target);
      const index = this.#index;
      if (index >= list.length) return { value: undefined, done: true };
      this.#index = index + 1;
      const pair = list[index];
      const kind = this.#kind;
      const value = kind === "key" ? pair[0] : kind === "value" ? pair[1] : [pair[0], pair[1]];
      return { value, done: false };
    }
  }
  const newIterator = (target, kind) => {
    listOf(target); // the brand check, before an iterator exists
    return new URLSearchParamsIterator(target, kind);
  };
  const iteratorPrototype = URLSearchParamsIterator.prototype;
  setPrototypeOf(iteratorPrototype, IteratorPrototype);

  class URL {
    // The components the natives return (the href first).
    #c;
    #query;

    constructor(url, base = undefined) {
      required(arguments.length, 1, "URL constructor");
      const c = parse(usv(url), base === undefined ? undefined : usv(base));
      if (c === undefined) throw new TypeErrorCtor(`Invalid URL: ${usv(url)}`);
      this.#c = c;
      this.#query = attachParams(this, slice(c[C_SEARCH], 1));
    }

    static {
      isURL = (value) => typeof value === "object" && value !== null && #c in value;
      updateFromParams = (url, serialized) => {
        const c = set(url.#c[C_HREF], QUERY_FROM_PARAMS, serialized);
        if (c !== undefined) url.#c = c;
      };
    }

    static parse(url, base = undefined) {
      required(arguments.length, 1, "URL.parse");
      const c = parse(usv(url), base === undefined ? undefined : usv(base));
      return c === undefined ? null : new URL(c[C_HREF]);
    }

    static canParse(url, base = undefined) {
      required(arguments.length, 1, "URL.canParse");
      return parse(usv(url), base === undefined ? undefined : usv(base)) !== undefined;
    }

    #set(which, value) {
      const c = set(this.#c[C_HREF], which, usv(value));
      if (c !== undefined) this.#c = c;
    }

    get href() {
      return this.#c[C_HREF];
    }
    set href(value) {
      const c = set(this.#c[C_HREF], HREF, usv(value));
      if (c === undefined) throw new TypeErrorCtor(`Invalid URL: ${usv(value)}`);
      this.#c = c;
      replaceList(this.#query, slice(c[C_SEARCH], 1));
    }
    get origin() {
      return this.#c[C_ORIGIN];
    }
    get protocol() {
      return this.#c[C_PROTOCOL];
    }
    set protocol(value) {
      this.#set(PROTOCOL, value);
    }
    get username() {
      return this.#c[C_USERNAME];
    }
    set username(value) {
      this.#set(USERNAME, value);
    }
    get password() {
      return this.#c[C_PASSWORD];
    }
    set password(value) {
      this.#set(PASSWORD, value);
    }
    get host() {
      return this.#c[C_HOST];
    }
    set host(value) {
      this.#set(HOST, value);
    }
    get hostname() {
      return this.#c[C_HOSTNAME];
    }
    set hostname(value) {
      this.#set(HOSTNAME, value);
    }
    get port() {
      return this.#c[C_PORT];
    }
    set port(value) {
      this.#set(PORT, value);
    }
    get pathname() {
      return this.#c[C_PATHNAME];
    }
    set pathname(value) {
      this.#set(PATHNAME, value);
    }
    get search() {
      return this.#c[C_SEARCH];
    }
    set search(value) {
      const input = usv(value);
      const c = set(this.#c[C_HREF], SEARCH, input);
      if (c === undefined) return;
      this.#c = c;
      // The list is the parse of what was given, not of the encoded query.
      replaceList(this.#query, input[0] === "?" ? slice(input, 1) : input);
    }
    get searchParams() {
      return this.#query;
    }
    get hash() {
      return this.#c[C_HASH];
    }
    set hash(value) {
      this.#set(HASH, value);
    }

    toString() {
      return this.#c[C_HREF];
    }

    toJSON() {
      return this.#c[C_HREF];
    }
  }

  defineInterface(URL, "URL");
  defineInterface(URLSearchParams, "URLSearchParams");
  // @@iterator is the same function as `entries` (WebIDL "Iterable declarations").
  defineProperty(URLSearchParams.prototype, SymbolIterator, {
    __proto__: null,
    value: URLSearchParams.prototype.entries,
    writable: true,
    enumerable: false,
    configurable: true,
  });
  // The iterator prototype: `next` enumerable, its own class string ("Default iterator
  // objects"); no constructor of its own.
  defineInterface(URLSearchParamsIterator, "URLSearchParams Iterator");
  delete iteratorPrototype.constructor;

  exposeInterface("URL", URL);
  exposeInterface("URLSearchParams", URLSearchParams);

  return { __proto__: null, isURL, isURLSearchParams };
});
