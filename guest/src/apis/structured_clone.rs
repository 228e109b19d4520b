//! `structuredClone(value, { transfer })`: the HTML Standard's StructuredSerializeWithTransfer
//! and StructuredDeserializeWithTransfer ("Safe passing of structured data"), done in one
//! pass since the clone stays in the same realm.
//!
//! What it clones, as the standard says: primitives (a Symbol is a `DataCloneError`),
//! Boolean, Number, String and BigInt objects, Date, RegExp (source and flags; not
//! `lastIndex`), ArrayBuffer (resizable ones with their maximum), every typed array and
//! DataView (views that share a buffer share its clone), Map and Set, Error objects
//! (name, message and stack; also `cause`, which the standard leaves to the engines),
//! arrays (length, holes and other properties) and ordinary objects (own enumerable
//! string keys, through getters, into data properties), with cycles and shared
//! references kept; `DOMException` and `CryptoKey` (serializable platform objects).
//! Everything else with internal slots is a `DataCloneError`: functions, Proxy objects
//! (exotic), WeakMap, WeakSet, WeakRef, Promise, SharedArrayBuffer (this realm is not
//! cross-origin isolated), and the platform objects that are not serializable (`URL`,
//! `URLSearchParams`, `crypto`, the global object). Only ArrayBuffers are transferable:
//! a transferred one is detached and its bytes move to the clone.
//!
//! The traversal is JavaScript (`structured_clone.js`): reading properties, calling
//! getters and building Maps is what QuickJS does anyway, and the JavaScript part
//! captures every built-in it uses. It keeps its own stack of containers on the heap,
//! so a graph of any depth costs memory, which the heap limit bounds, and never the
//! native stack. What JavaScript cannot see, an object's internal slots, is the native
//! part's one function: `classOf`, QuickJS's class id of a value.
//!
//! Deliberate difference: the platform objects of the other web APIs written in
//! JavaScript (`Event`, `AbortSignal`, `TextEncoder`...) are ordinary objects to
//! QuickJS and clone as plain objects of their own enumerable properties, where a
//! browser throws `DataCloneError`; those of this crate's `url` and `crypto` are
//! recognized through the APIs' exports.

use std::ffi::c_int;

use rquickjs::{qjs, Ctx, Object, Result, Value};

use super::Api;

/// `structuredClone`.
pub const API: Api = Api {
    name: "structured_clone",
    native: natives,
    js: Some(include_str!("structured_clone.js")),
};

/// `{ classOf }` for `structured_clone.js`.
fn natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    // SAFETY: `class_of` has the signature of a QuickJS C function; the returned value is
    // a new reference, owned by `Value` from here on (or an exception, caught).
    let class_of = unsafe {
        let raw = qjs::JS_NewCFunction2(
            ctx.as_raw().as_ptr(),
            Some(class_of),
            c"classOf".as_ptr(),
            1,
            qjs::JSCFunctionEnum_JS_CFUNC_generic,
            0,
        );
        if qjs::JS_IsException(raw) {
            return Err(ctx.throw(ctx.catch()));
        }
        Value::from_raw(ctx.clone(), raw)
    };
    natives.set("classOf", class_of)?;
    Ok(natives.into_value())
}

/// `classOf(value)`: QuickJS's class id of `value` (0 for a primitive), which tells
/// which internal slots it has. A plain C function rather than an rquickjs closure: a
/// clone calls it once for every object it meets, and this skips the conversions.
unsafe extern "C" fn class_of(
    _ctx: *mut qjs::JSContext,
    _this: qjs::JSValue,
    argc: c_int,
    argv: *mut qjs::JSValue,
) -> qjs::JSValue {
    // SAFETY: QuickJS passes `argc` live arguments at `argv` (at least the declared
    // length, 1, padded with `undefined`); JS_GetClassID reads a value's tag and, for an
    // object, the class id in its header.
    let id = unsafe {
        if argc < 1 || argv.is_null() {
            0
        } else {
            qjs::JS_GetClassID(*argv)
        }
    };
    qjs::JS_MKVAL(qjs::JS_TAG_INT, id as i32)
}

#[cfg(test)]
mod tests {
    use crate::engine::{Failure, RunLimits};
    use crate::testing::{run_ok, run_with, Fake, LIMITS};

    fn eval(source: &str) -> String {
        run_ok(&Fake::default(), source)
    }

    #[test]
    fn primitives_and_wrappers() {
        assert_eq!(
            eval(
                r#"const c = structuredClone;
                   const wrappers = [new Boolean(false), new Number(-0), new String("s"), Object(5n)].map((v) => c(v));
                   [c(1), c("x"), c(null), c(true), c(undefined) === undefined, Object.is(c(-0), -0), Number.isNaN(c(NaN)),
                    String(c(12345678901234567890n)),
                    wrappers.map((w) => Object.prototype.toString.call(w)), Object.is(wrappers[1].valueOf(), -0),
                    String(wrappers[3].valueOf()), typeof wrappers[3]]"#
            ),
            r#"[1,"x",null,true,true,true,true,"12345678901234567890",["[object Boolean]","[object Number]","[object String]","[object BigInt]"],true,"5","object"]"#
        );
    }

    #[test]
    fn objects_keep_own_enumerable_string_keys_through_getters() {
        assert_eq!(
            eval(
                r#"class Point { constructor() { this.x = 1; } get y() { return 2; } }
                   const source = new Point();
                   Object.defineProperty(source, "hidden", { value: 1, enumerable: false });
                   Object.defineProperty(source, "computed", { get() { return "got"; }, enumerable: true });
                   source[Symbol("s")] = 1;
                   Object.defineProperty(source, "__proto__", { value: { evil: true }, enumerable: true, writable: true, configurable: true });
                   const clone = structuredClone(source);
                   const d = Object.getOwnPropertyDescriptor(clone, "computed");
                   [Object.keys(clone), Object.getPrototypeOf(clone) === Object.prototype, clone.y, d.value, d.writable,
                    Object.getOwnPropertySymbols(clone).length, clone.evil, Object.getOwnPropertyNames(structuredClone(Object.create(null)))]"#
            ),
            r#"[["x","computed","__proto__"],true,null,"got",true,0,null,[]]"#
        );
    }

    #[test]
    fn arrays_keep_length_holes_and_extra_properties() {
        assert_eq!(
            eval(
                r#"const a = [1, , 3]; a.length = 6; a.extra = "e"; a[-1] = "neg";
                   const c = structuredClone(a);
                   [Array.isArray(c), c.length, 1 in c, 5 in c, c[2], c.extra, c[-1], Object.keys(c)]"#
            ),
            r#"[true,6,false,false,3,"e","neg",["0","2","extra","-1"]]"#
        );
    }

    #[test]
    fn dates_regexps_maps_and_sets() {
        assert_eq!(
            eval(
                r#"const re = /a(b)c/gimsuyd; re.lastIndex = 3; re.extra = 1;
                   Object.defineProperty(re, "global", { value: false });
                   const rc = structuredClone(re);
                   const key = { k: 1 };
                   const m = new Map([[key, "v"], ["s", key], [NaN, 1]]);
                   const mc = structuredClone(m);
                   const [ck] = mc.keys();
                   const s = structuredClone(new Set([1, key, key, "x"]));
                   const d = structuredClone(new Date(86400000));
                   [rc.source, rc.flags, rc.lastIndex, rc.extra, rc instanceof RegExp,
                    d instanceof Date, d.getTime(), Number.isNaN(structuredClone(new Date(NaN)).getTime()),
                    mc instanceof Map, mc.size, ck !== key, mc.get("s") === ck, mc.get(NaN),
                    [...s].length, [...s][1] !== key]"#
            ),
            r#"["a(b)c","dgimsuy",0,null,true,true,86400000,true,true,3,true,true,1,3,true]"#
        );
    }

    #[test]
    fn cycles_and_shared_references_are_kept() {
        assert_eq!(
            eval(
                r#"const shared = { s: 1 };
                   const a = { shared, again: shared, list: [shared] };
                   a.self = a; a.list.push(a.list);
                   const m = new Map(); m.set(m, m); a.map = m;
                   const c = structuredClone(a);
                   [c !== a, c.self === c, c.shared === c.again, c.list[0] === c.shared, c.list[1] === c.list,
                    c.map.get(c.map) === c.map, c.shared !== shared]"#
            ),
            "[true,true,true,true,true,true,true]"
        );
    }

    #[test]
    fn buffers_and_views_share_one_cloned_buffer() {
        assert_eq!(
            eval(
                r#"const buffer = new ArrayBuffer(16);
                   const bytes = new Uint8Array(buffer); bytes.set([1, 2, 3, 4, 5, 6, 7, 8]);
                   const words = new Uint16Array(buffer, 2, 3);
                   const view = new DataView(buffer, 4, 8);
                   const kinds = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
                                  Float32Array, Float64Array, BigInt64Array, BigUint64Array]
                     .map((T) => { const t = structuredClone(new T(2)); return t instanceof T && t.length === 2; });
                   const c = structuredClone({ buffer, bytes, words, view });
                   c.bytes[2] = 99;
                   const resizable = structuredClone(new ArrayBuffer(4, { maxByteLength: 32 }));
                   [c.bytes.buffer === c.buffer, c.words.buffer === c.buffer, c.view.buffer === c.buffer, c.buffer !== buffer,
                    c.words.byteOffset, c.words.length, c.view.byteOffset, c.view.byteLength, c.words[0] === (99 | (4 << 8)),
                    bytes[2], kinds.every((x) => x), resizable.resizable, resizable.maxByteLength, resizable.byteLength]"#
            ),
            "[true,true,true,true,2,3,4,8,true,3,true,true,32,4]"
        );
    }

    #[test]
    fn errors_keep_name_message_stack_and_cause() {
        assert_eq!(
            eval(
                r#"function thrower() { return new TypeError("bad", { cause: { why: "because" } }); }
                   const e = thrower(); e.extra = 1;
                   const c = structuredClone(e);
                   class MyError extends Error { constructor() { super("mine"); this.name = "MyError"; } }
                   const mine = structuredClone(new MyError());
                   const renamed = new RangeError("r"); renamed.name = "SyntaxError";
                   const noMessage = structuredClone(new Error());
                   const cyclic = new Error("loop"); cyclic.cause = cyclic;
                   const cc = structuredClone(cyclic);
                   const d = structuredClone(new DOMException("gone", "NotFoundError"));
                   [c instanceof TypeError, c.name, c.message, c.cause.why, c.cause !== e.cause, c.extra,
                    c.stack === e.stack, c.stack.includes("thrower"),
                    Object.getOwnPropertyDescriptor(c, "message").enumerable,
                    Object.getPrototypeOf(mine) === Error.prototype, mine.name, mine.message,
                    structuredClone(renamed).constructor.name, Object.hasOwn(noMessage, "message"), cc.cause === cc,
                    d instanceof DOMException, d.name, d.message, d.code]"#
            ),
            r#"[true,"TypeError","bad","because",true,null,true,true,false,true,"Error","mine","SyntaxError",false,true,true,"NotFoundError","gone",8]"#
        );
    }

    #[test]
    fn what_cannot_be_cloned_is_a_data_clone_error() {
        assert_eq!(
            eval(
                r#"const why = (v) => { try { structuredClone(v); return "cloned"; } catch (e) { return e instanceof DOMException ? e.name + ":" + e.code : e.name; } };
                   const detached = new ArrayBuffer(4); detached.transfer();
                   function args() { return arguments; }
                   [why(() => 1), why(Symbol("s")), why({ f() {} }), why(new WeakMap()), why(new WeakSet()), why(new WeakRef({})),
                    why(Promise.resolve()), why(new Proxy({}, {})), why(new Proxy([], {})), why(new URL("http://h/")),
                    why(new URLSearchParams()), why(crypto), why(crypto.subtle), why(globalThis), why(Object(Symbol())),
                    why(new SharedArrayBuffer(4)), why(new Uint8Array(new SharedArrayBuffer(4))), why(detached), why(args(1)),
                    why((function* () {})()), why([1, 2].values()), why({ nested: { deeper: [Symbol.iterator] } })]"#
            ),
            concat!(
                r#"["DataCloneError:25","DataCloneError:25","DataCloneError:25","DataCloneError:25","DataCloneError:25","DataCloneError:25","#,
                r#""DataCloneError:25","DataCloneError:25","DataCloneError:25","DataCloneError:25","DataCloneError:25","DataCloneError:25","#,
                r#""DataCloneError:25","DataCloneError:25","DataCloneError:25","DataCloneError:25","DataCloneError:25","DataCloneError:25","#,
                r#""DataCloneError:25","DataCloneError:25","DataCloneError:25","DataCloneError:25"]"#
            )
        );
    }

    #[test]
    fn getters_run_depth_first_in_key_order_and_may_throw() {
        assert_eq!(
            eval(
                r#"const log = [];
                   const source = {
                     get a() { log.push("a"); return { get inner() { log.push("a.inner"); return 1; } }; },
                     get b() { log.push("b"); return 2; },
                   };
                   structuredClone(source);
                   const m = new Map([[{ get k() { log.push("key"); return 0; } }, { get v() { log.push("value"); return 0; } }]]);
                   structuredClone(m);
                   let thrown;
                   try { structuredClone({ get boom() { throw new RangeError("from a getter"); } }); } catch (e) { thrown = e.name; }
                   [log, thrown]"#
            ),
            r#"[["a","a.inner","b","key","value"],"RangeError"]"#
        );
    }

    #[test]
    fn a_crypto_key_clone_still_signs() {
        assert_eq!(
            eval(
                r#"(async () => {
                     const key = await crypto.subtle.importKey("raw", new Uint8Array([1, 2, 3]), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
                     const copy = structuredClone(key);
                     const data = new Uint8Array([7]);
                     const a = new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
                     const b = new Uint8Array(await crypto.subtle.sign("HMAC", copy, data));
                     return [copy !== key, copy instanceof CryptoKey, copy.extractable, copy.usages, a.every((x, i) => x === b[i])];
                   })()"#
            ),
            r#"[true,true,false,["sign"],true]"#
        );
    }

    #[test]
    fn transfer_detaches_the_source_and_moves_its_bytes() {
        assert_eq!(
            eval(
                r#"const buffer = new Uint8Array([1, 2, 3, 4]).buffer;
                   const view = new Uint8Array(buffer, 1, 2);
                   const c = structuredClone({ buffer, view }, { transfer: [buffer] });
                   const why = (f) => { try { f(); return "cloned"; } catch (e) { return e.name; } };
                   const kept = new ArrayBuffer(8);
                   const failed = why(() => structuredClone({ kept, f() {} }, { transfer: [kept] }));
                   const alone = new ArrayBuffer(2);
                   const unreferenced = structuredClone(1, { transfer: [alone] });
                   [buffer.detached, buffer.byteLength, [...new Uint8Array(c.buffer)], c.view.buffer === c.buffer, [...c.view],
                    failed, kept.detached, alone.detached, unreferenced,
                    why(() => structuredClone(1, { transfer: [{}] })), why(() => structuredClone(1, { transfer: [kept, kept] })),
                    why(() => structuredClone(1, { transfer: [new SharedArrayBuffer(1)] })),
                    why(() => structuredClone(1, { transfer: [buffer] })), why(() => structuredClone(1, { transfer: 1 })),
                    why(() => structuredClone(1, { transfer: [1] })), why(() => structuredClone(1, 5)),
                    structuredClone(2, null), structuredClone(3, {}), structuredClone(4, { transfer: undefined })]"#
            ),
            r#"[true,0,[1,2,3,4],true,[2,3],"DataCloneError",false,true,1,"DataCloneError","DataCloneError","DataCloneError","DataCloneError","TypeError","TypeError","TypeError",2,3,4]"#
        );
    }

    #[test]
    fn a_deep_graph_does_not_touch_the_native_stack() {
        // Far deeper than the stack limit would let a recursive clone go (JSON.stringify
        // overflows at a few thousand); about 1 KiB of heap a level, all of it the heap
        // limit's to bound.
        assert_eq!(
            eval(
                r#"let deep = {};
                   const root = deep;
                   for (let i = 0; i < 20000; i++) { deep.next = [{}]; deep = deep.next[0]; }
                   let c = structuredClone(root), depth = 0;
                   while (c.next) { c = c.next[0]; depth++; }
                   depth"#
            ),
            "20000"
        );
    }

    #[test]
    fn a_giant_cyclic_graph_under_a_heap_limit_is_out_of_memory() {
        let limits = RunLimits {
            heap_bytes: 16 * 1024 * 1024,
            ..LIMITS
        };
        let source = r#"const nodes = [];
            for (let i = 0; i < 40000; i++) nodes.push({ i, peers: [] });
            for (const n of nodes) n.peers.push(nodes[(n.i * 7919) % nodes.length], nodes);
            const clones = [];
            for (;;) clones.push(structuredClone(nodes));"#;
        assert_eq!(
            run_with(&Fake::default(), source, limits),
            Err(Failure::OutOfMemory)
        );
    }

    #[test]
    fn shape_and_tampered_builtins() {
        assert_eq!(
            eval(
                r#"const d = Object.getOwnPropertyDescriptor(globalThis, "structuredClone");
                   const threw = (f) => { try { f(); return "no"; } catch (e) { return e.name; } };
                   const shape = [d.writable, d.enumerable, d.configurable, structuredClone.length, structuredClone.name,
                                  threw(() => structuredClone()), threw(() => new structuredClone(1))];
                   Map.prototype.set = Map.prototype.get = () => { throw new Error("tampered"); };
                   Set.prototype.add = () => { throw new Error("tampered"); };
                   Object.defineProperty = Object.keys = () => { throw new Error("tampered"); };
                   Array.prototype.push = () => { throw new Error("tampered"); };
                   Object.getPrototypeOf([].values()).next = () => { throw new Error("tampered"); };
                   const m = new Map();
                   const c = structuredClone({ a: [1, { b: 2 }], s: new Set(), m });
                   shape.concat([c.a[1].b, c.s instanceof Set, c.m instanceof Map])"#
            ),
            r#"[true,true,true,1,"structuredClone","TypeError","TypeError",2,true,true]"#
        );
    }

    #[test]
    fn prototypes_a_script_changed_do_not_intercept_the_clone() {
        assert_eq!(
            eval(
                r#"let setterRan = false;
                   Object.defineProperty(Object.prototype, "planted", { set(v) { setterRan = true; }, configurable: true });
                   Object.defineProperty(Array.prototype, "0", { set(v) { setterRan = true; }, configurable: true });
                   Object.freeze(Object.prototype);
                   const c = structuredClone({ planted: 1, toString: "own", list: ["first"] });
                   [setterRan, c.planted, c.toString, c.list[0], Object.keys(c)]"#
            ),
            r#"[false,1,"own","first",["planted","toString","list"]]"#
        );
    }
}
