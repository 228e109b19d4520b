// The JavaScript part of `AbortController` and `AbortSignal` (see abort.rs). Runs once,
// at pre-initialization, in the run context (strict mode); called with no natives and
// the exports so far (it uses `webidl`, `dom_exception` and `event`). Returns, for the
// APIs installed after it: the two classes, `newSignal()` (a signal not yet aborted),
// `signalAbort(signal, reason)` (the DOM's "signal abort"; an `undefined` reason is an
// "AbortError" DOMException) and `isSignal(value)`. `AbortSignal.timeout` uses the
// timers' `setTimeout`, captured here.
//
// Everything used after installation is captured here, before any script runs; lists
// are arrays without a prototype (see event.js).
((_natives, { webidl, dom_exception, event }) => {
  const { defineInterface, exposeInterface, requireArguments, illegalConstructor } = webidl;
  const createDOMException = dom_exception.create;
  const { EventTarget, fire, defineEventHandler, useAbortSignals } = event;
  const setPrototypeOf = Object.setPrototypeOf;
  // Installed before this part (see APIS), so these are the originals.
  const setTimer = globalThis.setTimeout;
  const floor = Math.floor;
  const MAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER;
  const MAX_TIMER_MS = 2147483647;
  const TypeErrorCtor = TypeError;

  const newList = () => setPrototypeOf([], null);
  const pushUnique = (list, item) => {
    for (let i = 0; i < list.length; i++) if (list[i] === item) return;
    list[list.length] = item;
  };
  const isObject = (value) => value !== null && (typeof value === "object" || typeof value === "function");

  // The default reason of an abort without one.
  const abortError = () => createDOMException("AbortError", "signal is aborted without reason");

  // True only while `newSignal` constructs: AbortSignal has no constructor for scripts.
  let constructing = false;
  let newSignal;
  let signalAbort;
  let isSignal;
  let dependentSignal;

  class AbortSignal extends EventTarget {
    // Aborted when the reason is not undefined (DOM "aborted").
    #reason = undefined;
    #algorithms = newList();
    #dependent = false;
    #sources = newList();
    #dependents = newList();

    constructor() {
      if (!constructing) throw illegalConstructor();
      constructing = false;
      super();
    }

    static abort(reason = undefined) {
      const signal = newSignal();
      signal.#reason = reason === undefined ? abortError() : reason;
      return signal;
    }

    // DOM §3.1 "AbortSignal.timeout": a signal aborted with a "TimeoutError" after
    // `milliseconds` ([EnforceRange] unsigned long long). The timer is an ordinary one
    // of the run: it fires only while the run waits (see event_loop.rs), and a delay
    // past 2^31 - 1 ms (24.8 days, longer than any execution may last) never fires.
    static timeout(milliseconds) {
      const context = "Failed to execute 'timeout' on 'AbortSignal'";
      requireArguments(arguments.length, 1, context);
      const number = +milliseconds;
      if (number !== number || number === Infinity || number === -Infinity) {
        throw new TypeErrorCtor(`${context}: Value is not a finite number.`);
      }
      const ms = number < 0 ? -floor(-number) : floor(number);
      if (ms < 0 || ms > MAX_SAFE_INTEGER) {
        throw new TypeErrorCtor(`${context}: Value is outside the 'unsigned long long' value range.`);
      }
      const signal = newSignal();
      if (ms <= MAX_TIMER_MS) {
        setTimer(() => signalAbort(signal, createDOMException("TimeoutError", "signal timed out")), ms);
      }
      return signal;
    }

    static any(signals) {
      const context = "Failed to execute 'any' on 'AbortSignal'";
      requireArguments(arguments.length, 1, context);
      // `sequence<AbortSignal>`: WebIDL reads it through the iterator protocol.
      if (!isObject(signals)) throw new TypeErrorCtor(`${context}: the argument is not iterable.`);
      const list = newList();
      for (const signal of signals) {
        if (!isSignal(signal)) throw new TypeErrorCtor(`${context}: an element is not of type 'AbortSignal'.`);
        list[list.length] = signal;
      }
      return dependentSignal(list);
    }

    get aborted() {
      return this.#reason !== undefined;
    }

    get reason() {
      return this.#reason;
    }

    throwIfAborted() {
      if (this.#reason !== undefined) throw this.#reason;
    }

    static {
      newSignal = () => {
        constructing = true;
        try {
          return new AbortSignal();
        } finally {
          constructing = false;
        }
      };
      isSignal = (value) => isObject(value) && #reason in value;

      // DOM "run the abort steps".
      const runAbortSteps = (signal) => {
        const algorithms = signal.#algorithms;
        signal.#algorithms = newList();
        for (let i = 0; i < algorithms.length; i++) algorithms[i]();
        fire(signal, "abort");
      };

      // DOM "signal abort": the reason goes to the dependent signals before any abort
      // event is fired, so every listener sees all of them aborted.
      signalAbort = (signal, reason) => {
        if (signal.#reason !== undefined) return;
        signal.#reason = reason === undefined ? abortError() : reason;
        const toAbort = newList();
        const dependents = signal.#dependents;
        for (let i = 0; i < dependents.length; i++) {
          const dependent = dependents[i];
          if (dependent.#reason === undefined) {
            dependent.#reason = signal.#reason;
            toAbort[toAbort.length] = dependent;
          }
        }
        runAbortSteps(signal);
        for (let i = 0; i < toAbort.length; i++) runAbortSteps(toAbort[i]);
      };

      // DOM "create a dependent abort signal": follows the signals' own sources, so a
      // chain of `any` stays one level deep.
      dependentSignal = (signals) => {
        const result = newSignal();
        for (let i = 0; i < signals.length; i++) {
          if (signals[i].#reason !== undefined) {
            result.#reason = signals[i].#reason;
            return result;
          }
        }
        result.#dependent = true;
        for (let i = 0; i < signals.length; i++) {
          const signal = signals[i];
          if (!signal.#dependent) {
            pushUnique(result.#sources, signal);
            pushUnique(signal.#dependents, result);
          } else {
            const sources = signal.#sources;
            for (let j = 0; j < sources.length; j++) {
              pushUnique(result.#sources, sources[j]);
              pushUnique(sources[j].#dependents, result);
            }
          }
        }
        return result;
      };

      useAbortSignals({
        __proto__: null,
        isSignal,
        isAborted: (signal) => signal.#reason !== undefined,
        // DOM "add" an abort algorithm: nothing if the signal is already aborted.
        addAlgorithm: (signal, algorithm) => {
          if (signal.#reason === undefined) signal.#algorithms[signal.#algorithms.length] = algorithm;
        },
      });
    }
  }
  defineEventHandler(AbortSignal.prototype, "abort", isSignal);

  class AbortController {
    #signal;

    constructor() {
      this.#signal = newSignal();
    }

    get signal() {
      return this.#signal;
    }

    abort(reason = undefined) {
      signalAbort(this.#signal, reason);
    }
  }

  defineInterface(AbortSignal, "AbortSignal");
  defineInterface(AbortController, "AbortController");
  exposeInterface("AbortController", AbortController);
  exposeInterface("AbortSignal", AbortSignal);

  return { __proto__: null, AbortController, AbortSignal, newSignal, signalAbort, isSignal };
});
