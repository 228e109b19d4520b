// The JavaScript part of `Event` and `EventTarget` (see event.rs). Runs once, at
// pre-initialization, in the run context (strict mode); called with no natives and the
// exports so far (it uses `webidl` and `dom_exception`). Returns, for the APIs installed
// after it: the two classes, `fire(target, type)` (the DOM's "fire an event": a trusted
// event), `defineEventHandler(proto, type, isBrand)` (an `on<type>` attribute, HTML's
// event handler IDL attributes) and `useAbortSignals(hooks)`, through which `abort`
// gives `addEventListener` what its `signal` option needs.
//
// Everything used after installation is captured here, before any script runs. Lists
// are arrays without a prototype and records are objects without one, so that nothing a
// script adds to Array.prototype or Object.prototype (a setter for "0", say) is reached.
((_natives, { webidl, dom_exception }) => {
  const { defineInterface, exposeInterface, requireArguments, toDOMString, dictionary } = webidl;
  const createDOMException = dom_exception.create;
  const { defineProperty, setPrototypeOf, getOwnPropertyDescriptor } = Object;
  const apply = Reflect.apply;
  const now = Date.now;
  const TypeErrorCtor = TypeError;
  // An exception thrown by a listener is reported, not thrown out of dispatchEvent (DOM
  // "inner invoke", HTML "report an exception"): it goes to the host's log as an error
  // record, formatted as console.error formats it. `console` is frozen and installed
  // before this, so what is captured here is the real one.
  const consoleError = console.error;
  const report = (error) => consoleError("Uncaught", error);

  const newList = () => setPrototypeOf([], null);
  const push = (list, item) => {
    list[list.length] = item;
  };
  const removeItem = (list, item) => {
    for (let i = 0; i < list.length; i++) {
      if (list[i] === item) {
        for (let j = i; j + 1 < list.length; j++) list[j] = list[j + 1];
        list.length = list.length - 1;
        return;
      }
    }
  };
  const isObject = (value) => value !== null && (typeof value === "object" || typeof value === "function");

  // What `abort` hands over (see `useAbortSignals`): isSignal(value), isAborted(signal),
  // addAlgorithm(signal, algorithm).
  let abortSignals;

  // Event phases (DOM "Interface Event").
  const NONE = 0;
  const CAPTURING_PHASE = 1;
  const AT_TARGET = 2;
  const BUBBLING_PHASE = 3;

  // Filled in by the static blocks below: the internals the two classes share.
  let isEvent;
  let cancel;
  let dispatch;
  let listenersOf;
  let handlersOf;

  // The `isTrusted` getter, the same function on every event ([LegacyUnforgeable]: an
  // own, non-configurable property of each instance).
  let trustedOf;
  const isTrustedDescriptor = {
    __proto__: null,
    get: getOwnPropertyDescriptor(
      {
        get isTrusted() {
          return trustedOf(this);
        },
      },
      "isTrusted",
    ).get,
    enumerable: true,
    configurable: false,
  };

  class Event {
    #type = "";
    #target = null;
    #currentTarget = null;
    #phase = NONE;
    #bubbles = false;
    #cancelable = false;
    #composed = false;
    #canceled = false;
    #stopPropagation = false;
    #stopImmediatePropagation = false;
    #inPassiveListener = false;
    #dispatching = false;
    #initialized = false;
    #trusted = false;
    #timeStamp = 0;

    constructor(type, eventInitDict = undefined) {
      requireArguments(arguments.length, 1, "Failed to construct 'Event'");
      type = toDOMString(type);
      const init = dictionary(eventInitDict, "Failed to construct 'Event'");
      // EventInit's members, read in lexicographic order as WebIDL reads dictionaries.
      if (init !== undefined) {
        this.#bubbles = !!init.bubbles;
        this.#cancelable = !!init.cancelable;
        this.#composed = !!init.composed;
      }
      this.#type = type;
      this.#initialized = true;
      this.#timeStamp = now();
      defineProperty(this, "isTrusted", isTrustedDescriptor);
    }

    get type() {
      return this.#type;
    }
    get target() {
      return this.#target;
    }
    get srcElement() {
      return this.#target;
    }
    get currentTarget() {
      return this.#currentTarget;
    }
    composedPath() {
      // The path of an event dispatched to a target outside any tree is the target.
      return this.#dispatching ? [this.#currentTarget] : [];
    }
    get eventPhase() {
      return this.#phase;
    }
    stopPropagation() {
      this.#stopPropagation = true;
    }
    get cancelBubble() {
      return this.#stopPropagation;
    }
    set cancelBubble(value) {
      if (value) this.#stopPropagation = true;
    }
    stopImmediatePropagation() {
      this.#stopPropagation = true;
      this.#stopImmediatePropagation = true;
    }
    get bubbles() {
      return this.#bubbles;
    }
    get cancelable() {
      return this.#cancelable;
    }
    get returnValue() {
      return !this.#canceled;
    }
    set returnValue(value) {
      if (!value) this.#setCanceled();
    }
    preventDefault() {
      this.#setCanceled();
    }
    get defaultPrevented() {
      return this.#canceled;
    }
    get composed() {
      return this.#composed;
    }
    get timeStamp() {
      return this.#timeStamp;
    }
    initEvent(type, bubbles = false, cancelable = false) {
      const dispatching = this.#dispatching;
      requireArguments(arguments.length, 1, "Failed to execute 'initEvent' on 'Event'");
      type = toDOMString(type);
      if (dispatching) return;
      this.#initialized = true;
      this.#stopPropagation = false;
      this.#stopImmediatePropagation = false;
      this.#canceled = false;
      this.#trusted = false;
      this.#target = null;
      this.#type = type;
      this.#bubbles = !!bubbles;
      this.#cancelable = !!cancelable;
    }

    // DOM "set the canceled flag".
    #setCanceled() {
      if (this.#cancelable && !this.#inPassiveListener) this.#canceled = true;
    }

    static {
      isEvent = (value) => isObject(value) && #type in value;
      trustedOf = (event) => event.#trusted;
      cancel = (event) => event.#setCanceled();

      // DOM "dispatch" (with dispatchEvent's check first), for a target that is in no
      // tree (every EventTarget here): the path is the target alone, so the event is at
      // the target in both passes, capture listeners first. `trusted` is false for
      // dispatchEvent, true for `fire`. Returns false if the event was canceled.
      dispatch = (target, event, trusted) => {
        if (event.#dispatching || !event.#initialized) {
          throw createDOMException("InvalidStateError", "The event is already being dispatched or was not initialized.");
        }
        event.#trusted = trusted;
        event.#dispatching = true;
        event.#target = target;
        event.#phase = AT_TARGET;
        invoke(target, event, true);
        invoke(target, event, false);
        event.#phase = NONE;
        event.#currentTarget = null;
        event.#dispatching = false;
        event.#stopPropagation = false;
        event.#stopImmediatePropagation = false;
        return !event.#canceled;
      };

      // DOM "invoke" for one pass (capturing or bubbling) over the target's listeners as
      // they were when the pass began; one removed since is skipped.
      const invoke = (target, event, capturing) => {
        if (event.#stopPropagation) return;
        event.#currentTarget = target;
        const list = listenersOf(target);
        const listeners = newList();
        for (let i = 0; i < list.length; i++) listeners[i] = list[i];
        const type = event.#type;
        for (let i = 0; i < listeners.length; i++) {
          const listener = listeners[i];
          if (listener.removed || listener.type !== type || listener.capture !== capturing) continue;
          if (listener.once) removeListener(target, listener);
          if (listener.passive) event.#inPassiveListener = true;
          call(listener.callback, target, event);
          event.#inPassiveListener = false;
          if (event.#stopImmediatePropagation) return;
        }
      };
    }
  }

  // Calls a listener's callback as WebIDL calls a callback interface: a function with
  // `this` the current target, an object through its `handleEvent`, looked up now.
  // What it throws is reported.
  const call = (callback, target, event) => {
    try {
      if (typeof callback === "function") {
        apply(callback, target, [event]);
      } else {
        const handleEvent = callback.handleEvent;
        if (typeof handleEvent !== "function") {
          throw new TypeErrorCtor("The listener's handleEvent is not a function.");
        }
        apply(handleEvent, callback, [event]);
      }
    } catch (error) {
      report(error);
    }
  };

  // DOM "remove an event listener".
  const removeListener = (target, listener) => {
    listener.removed = true;
    removeItem(listenersOf(target), listener);
  };

  // `EventListener?`: null and undefined are null; anything else must be an object.
  const toCallback = (callback, context) => {
    if (callback === undefined || callback === null) return null;
    if (!isObject(callback)) throw new TypeErrorCtor(`${context}: parameter 2 is not an object.`);
    return callback;
  };

  // DOM "flatten" and "flatten more": `(EventListenerOptions or boolean)` and
  // `(AddEventListenerOptions or boolean)`, members read in WebIDL's order (the
  // inherited `capture` first, then once, passive, signal).
  const flatten = (options) => {
    if (options === undefined || options === null) return false;
    if (!isObject(options)) return !!options;
    return !!options.capture;
  };
  const flattenMore = (options, context) => {
    const flat = { __proto__: null, capture: false, once: false, passive: false, signal: null };
    if (options === undefined || options === null) return flat;
    if (!isObject(options)) {
      flat.capture = !!options;
      return flat;
    }
    flat.capture = !!options.capture;
    flat.once = !!options.once;
    flat.passive = !!options.passive;
    const signal = options.signal;
    if (signal !== undefined) {
      if (!abortSignals.isSignal(signal)) {
        throw new TypeErrorCtor(`${context}: member signal is not of type 'AbortSignal'.`);
      }
      flat.signal = signal;
    }
    return flat;
  };

  const findListener = (list, type, callback, capture) => {
    for (let i = 0; i < list.length; i++) {
      const listener = list[i];
      if (listener.type === type && listener.callback === callback && listener.capture === capture) return listener;
    }
    return undefined;
  };

  class EventTarget {
    #listeners = newList();
    // The event handlers (`onabort` ...) by type: value and listener.
    #handlers = { __proto__: null };

    constructor() {}

    addEventListener(type, callback, options = undefined) {
      const listeners = this.#listeners;
      const context = "Failed to execute 'addEventListener' on 'EventTarget'";
      requireArguments(arguments.length, 2, context);
      type = toDOMString(type);
      callback = toCallback(callback, context);
      const flat = flattenMore(options, context);
      addListener(this, listeners, type, callback, flat);
    }

    removeEventListener(type, callback, options = undefined) {
      const listeners = this.#listeners;
      const context = "Failed to execute 'removeEventListener' on 'EventTarget'";
      requireArguments(arguments.length, 2, context);
      type = toDOMString(type);
      callback = toCallback(callback, context);
      const capture = flatten(options);
      const listener = findListener(listeners, type, callback, capture);
      if (listener !== undefined) removeListener(this, listener);
    }

    dispatchEvent(event) {
      this.#listeners; // the brand check, before the arguments'
      requireArguments(arguments.length, 1, "Failed to execute 'dispatchEvent' on 'EventTarget'");
      if (!isEvent(event)) {
        throw new TypeErrorCtor("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
      }
      return dispatch(this, event, false);
    }

    static {
      listenersOf = (target) => target.#listeners;
      handlersOf = (target) => target.#handlers;
    }
  }

  // DOM "add an event listener".
  const addListener = (target, listeners, type, callback, flat) => {
    const signal = flat.signal;
    if (signal !== null && abortSignals.isAborted(signal)) return;
    if (callback === null) return;
    if (findListener(listeners, type, callback, flat.capture) !== undefined) return;
    const listener = {
      __proto__: null,
      type,
      callback,
      capture: flat.capture,
      passive: flat.passive,
      once: flat.once,
      removed: false,
    };
    push(listeners, listener);
    if (signal !== null) abortSignals.addAlgorithm(signal, () => removeListener(target, listener));
  };

  defineInterface(Event, "Event", { NONE, CAPTURING_PHASE, AT_TARGET, BUBBLING_PHASE });
  defineInterface(EventTarget, "EventTarget");
  exposeInterface("Event", Event);
  exposeInterface("EventTarget", EventTarget);

  // DOM "fire an event": a new, trusted event of `type` (neither bubbling nor
  // cancelable) dispatched at `target`.
  const fire = (target, type) => {
    return dispatch(target, new Event(type), true);
  };

  // HTML "event handler IDL attributes": `on<type>` on `proto`, for objects `isBrand`
  // accepts. Setting a value that is an object (functions included) stores it and, the
  // first time, adds a listener that calls whatever the handler is when the event comes;
  // setting anything else (null included) removes that listener.
  const defineEventHandler = (proto, type, isBrand) => {
    const name = `on${type}`;
    const check = (target) => {
      if (!isBrand(target)) throw new TypeErrorCtor("Illegal invocation");
      return handlersOf(target);
    };
    const accessors = {
      get [name]() {
        const handler = check(this)[type];
        return handler === undefined ? null : handler.value;
      },
      set [name](value) {
        const handlers = check(this);
        const handler = handlers[type];
        if (!isObject(value)) {
          if (handler !== undefined) {
            removeListener(this, handler.listener);
            handlers[type] = undefined;
          }
          return;
        }
        if (handler !== undefined) {
          handler.value = value;
          return;
        }
        const state = { __proto__: null, value, listener: undefined };
        // HTML "the event handler processing algorithm".
        const process = function (event) {
          const callback = state.value;
          if (typeof callback !== "function") return;
          const returned = apply(callback, this, [event]);
          if (returned === false) cancel(event);
        };
        const listeners = listenersOf(this);
        addListener(this, listeners, type, process, { __proto__: null, capture: false, once: false, passive: false, signal: null });
        state.listener = listeners[listeners.length - 1];
        handlers[type] = state;
      },
    };
    const descriptor = getOwnPropertyDescriptor(accessors, name);
    descriptor.enumerable = true;
    defineProperty(proto, name, descriptor);
  };

  const useAbortSignals = (hooks) => {
    abortSignals = hooks;
  };

  return { __proto__: null, Event, EventTarget, fire, defineEventHandler, useAbortSignals };
});
