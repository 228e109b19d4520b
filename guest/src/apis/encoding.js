// The JavaScript part of `TextEncoder` and `TextDecoder` (see encoding.rs). Runs once,
// at pre-initialization, in the run context (strict mode); called with the natives
// `{ encode, encodeInto, decode, isBuffer }` and the exports so far (it uses `webidl`).
// Everything it uses is captured here, before any script runs.
((natives, { webidl }) => {
  const { encode: nativeEncode, encodeInto: nativeEncodeInto, decode: nativeDecode, isBuffer } = natives;
  const { defineInterface, exposeInterface, requireArguments, toDOMString, dictionary } = webidl;
  const apply = Reflect.apply;
  const { getOwnPropertyDescriptor, getPrototypeOf } = Object;
  const isView = ArrayBuffer.isView;
  const getter = (proto, key) => getOwnPropertyDescriptor(proto, key).get;
  // %TypedArray%.prototype[@@toStringTag] is undefined, without throwing, for anything
  // that is not a typed array: among views, that is a DataView.
  const typedArrayName = getter(getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag);
  const dataViewBuffer = getter(DataView.prototype, "buffer");
  const dataViewOffset = getter(DataView.prototype, "byteOffset");
  const dataViewLength = getter(DataView.prototype, "byteLength");
  const charCodeAt = Function.prototype.call.bind(String.prototype.charCodeAt);
  const fromCharCode = String.fromCharCode;
  const Uint8ArrayCtor = Uint8Array;
  const RangeErrorCtor = RangeError;
  const TypeErrorCtor = TypeError;

  // `decode`'s flags and the size of a decoder's state (see encoding.rs).
  const FATAL = 1;
  const IGNORE_BOM = 2;
  const STREAM = 4;
  const RESET = 8;
  const STATE_LEN = 5;

  class TextEncoder {
    #brand = true;

    constructor() {}

    get encoding() {
      this.#brand;
      return "utf-8";
    }

    encode(input = "") {
      this.#brand;
      return nativeEncode(toDOMString(input));
    }

    encodeInto(source, destination) {
      this.#brand;
      requireArguments(arguments.length, 2, "Failed to execute 'encodeInto' on 'TextEncoder'");
      return nativeEncodeInto(toDOMString(source), destination);
    }
  }

  // The labels of UTF-8 (Encoding §4.2 "Names and labels"), the only encoding here.
  const utf8Labels = {
    __proto__: null,
    "unicode-1-1-utf-8": true,
    unicode11utf8: true,
    unicode20utf8: true,
    "utf-8": true,
    utf8: true,
    "x-unicode20utf8": true,
  };
  // Encoding §4.2 "get an encoding": strip leading and trailing ASCII whitespace, then
  // match ASCII case-insensitively. No label is longer than 17 characters.
  const isAsciiWhitespace = (c) => c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x20;
  const isUtf8Label = (label) => {
    let start = 0;
    let end = label.length;
    while (start < end && isAsciiWhitespace(charCodeAt(label, start))) start++;
    while (end > start && isAsciiWhitespace(charCodeAt(label, end - 1))) end--;
    if (end - start > 17) return false;
    let lowered = "";
    for (let i = start; i < end; i++) {
      const c = charCodeAt(label, i);
      lowered += fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
    }
    return utf8Labels[lowered] === true;
  };

  class TextDecoder {
    #fatal = false;
    #ignoreBOM = false;
    // Encoding's "do not flush": the previous decode() was streaming.
    #doNotFlush = false;
    #state = new Uint8ArrayCtor(STATE_LEN);

    constructor(label = "utf-8", options = undefined) {
      const context = "Failed to construct 'TextDecoder'";
      label = toDOMString(label);
      const init = dictionary(options, context);
      if (init !== undefined) {
        this.#fatal = !!init.fatal;
        this.#ignoreBOM = !!init.ignoreBOM;
      }
      if (!isUtf8Label(label)) {
        const shown = label.length > 64 ? "" : ` ('${label}')`;
        throw new RangeErrorCtor(`${context}: The encoding label provided${shown} is invalid or not supported (only UTF-8 is).`);
      }
    }

    get encoding() {
      this.#state;
      return "utf-8";
    }

    get fatal() {
      return this.#fatal;
    }

    get ignoreBOM() {
      return this.#ignoreBOM;
    }

    decode(input = undefined, options = undefined) {
      const state = this.#state;
      const context = "Failed to execute 'decode' on 'TextDecoder'";
      // `optional AllowSharedBufferSource input`, converted before the options are read.
      const view = input !== undefined && isView(input);
      if (input !== undefined && !view && !isBuffer(input)) {
        throw new TypeErrorCtor(`${context}: parameter 1 is not of type '(ArrayBuffer or ArrayBufferView)'.`);
      }
      const init = dictionary(options, context);
      const stream = init !== undefined && !!init.stream;
      const flags =
        (this.#fatal ? FATAL : 0) | (this.#ignoreBOM ? IGNORE_BOM : 0) | (stream ? STREAM : 0) | (this.#doNotFlush ? 0 : RESET);
      this.#doNotFlush = stream;
      if (view && apply(typedArrayName, input, []) === undefined) {
        // A DataView: its buffer and range, through the built-in getters. Those throw
        // for a detached buffer (or a view out of its resized buffer's bounds): no bytes.
        const buffer = apply(dataViewBuffer, input, []);
        let offset = 0;
        let length = 0;
        try {
          offset = apply(dataViewOffset, input, []);
          length = apply(dataViewLength, input, []);
        } catch (_) {
          length = 0;
        }
        return nativeDecode(buffer, offset, length, state, flags);
      }
      return nativeDecode(input, undefined, undefined, state, flags);
    }
  }

  defineInterface(TextEncoder, "TextEncoder");
  defineInterface(TextDecoder, "TextDecoder");
  exposeInterface("TextEncoder", TextEncoder);
  exposeInterface("TextDecoder", TextDecoder);
});
