//! `DOMException` (WebIDL §"DOMException", with its JavaScript binding's "DOMException
//! custom bindings"): `new DOMException(message = "", name = "Error")`, its `name`,
//! `message` and legacy `code` (from WebIDL's DOMException names table; 0 for a name
//! the table does not list), and the legacy constants (`INDEX_SIZE_ERR` ...
//! `DATA_CLONE_ERR`) on the constructor and its prototype.
//!
//! An instance is an error object (made by the `Error` constructor with the instance's
//! prototype) carrying its name and message in private fields: it has a `stack` like any
//! error, `instanceof Error` holds, `Object.prototype.toString` gives
//! `[object DOMException]`, and the guest reports one thrown out of a script with its
//! name and message, as it does any error. The prototype chain is `DOMException.prototype`
//! → `Error.prototype`, and `DOMException` itself inherits from `Function.prototype`, as
//! WebIDL says; see `dom_exception.js`.
//!
//! Native code throws one with [`throw`]: the constructor it uses is the one captured at
//! installation (in the exports, [`super::exports`]), so a script that replaced the
//! global `DOMException` still gets a real one.

use rquickjs::{Ctx, Error, Function, Result, Value};

use super::Api;

/// `DOMException`; JavaScript only.
pub const API: Api = Api {
    name: "dom_exception",
    native: no_natives,
    js: Some(include_str!("dom_exception.js")),
};

/// The JavaScript part needs nothing native.
fn no_natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    Ok(Value::new_undefined(ctx.clone()))
}

/// A new `DOMException` with `name` and `message`, made by the constructor installed at
/// pre-initialization.
pub fn create<'js>(ctx: &Ctx<'js>, name: &str, message: &str) -> Result<Value<'js>> {
    let create: Function = super::exported(ctx, API.name, "create")?.get()?;
    create.call((name, message))
}

/// Throws a `DOMException` with `name` (one of WebIDL's DOMException names, such as
/// `"InvalidCharacterError"` or `"DataCloneError"`) and `message`, for a native function
/// to return: `return Err(dom_exception::throw(&ctx, "InvalidStateError", "..."))`.
/// If even making the exception fails (out of memory), that failure is what is thrown.
pub fn throw<'js>(ctx: &Ctx<'js>, name: &str, message: &str) -> Error {
    match create(ctx, name, message) {
        Ok(exception) => ctx.throw(exception),
        Err(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use rquickjs::{function::Func, Ctx, Result};

    use crate::engine::Failure;
    use crate::testing::{run, run_ok, Fake};

    #[test]
    fn constructs_with_defaults_and_converted_arguments() {
        let result = run_ok(
            &Fake::default(),
            r#"const a = new DOMException();
               const b = new DOMException("went wrong", "NotFoundError");
               const c = new DOMException(12, { toString() { return "Custom"; } });
               const d = new DOMException(undefined, undefined);
               [[a.name, a.message, a.code], [b.name, b.message, b.code],
                [c.name, c.message, c.code], [d.name, d.message, d.code]]"#,
        );
        assert_eq!(
            result,
            r#"[["Error","",0],["NotFoundError","went wrong",8],["Custom","12",0],["Error","",0]]"#
        );
    }

    #[test]
    fn every_name_of_the_table_has_its_legacy_code() {
        let result = run_ok(
            &Fake::default(),
            r#"["IndexSizeError", "HierarchyRequestError", "WrongDocumentError",
                "InvalidCharacterError", "NoModificationAllowedError", "NotFoundError",
                "NotSupportedError", "InUseAttributeError", "InvalidStateError", "SyntaxError",
                "InvalidModificationError", "NamespaceError", "InvalidAccessError",
                "TypeMismatchError", "SecurityError", "NetworkError", "AbortError",
                "URLMismatchError", "QuotaExceededError", "TimeoutError", "InvalidNodeTypeError",
                "DataCloneError",
                // names without a code, and names that only have a constant
                "EncodingError", "NotAllowedError", "OperationError", "DOMStringSizeError",
                "ValidationError", "NoDataAllowedError", "indexsizeerror", "__proto__", "toString"]
                .map((name) => new DOMException("", name).code)"#,
        );
        assert_eq!(
            result,
            "[1,3,4,5,7,8,9,10,11,12,13,14,15,17,18,19,20,21,22,23,24,25,0,0,0,0,0,0,0,0,0]"
        );
    }

    #[test]
    fn the_constants_are_on_the_constructor_and_the_prototype_and_fixed() {
        let result = run_ok(
            &Fake::default(),
            r#"const names = ["INDEX_SIZE_ERR", "DOMSTRING_SIZE_ERR", "HIERARCHY_REQUEST_ERR",
                 "WRONG_DOCUMENT_ERR", "INVALID_CHARACTER_ERR", "NO_DATA_ALLOWED_ERR",
                 "NO_MODIFICATION_ALLOWED_ERR", "NOT_FOUND_ERR", "NOT_SUPPORTED_ERR",
                 "INUSE_ATTRIBUTE_ERR", "INVALID_STATE_ERR", "SYNTAX_ERR",
                 "INVALID_MODIFICATION_ERR", "NAMESPACE_ERR", "INVALID_ACCESS_ERR",
                 "VALIDATION_ERR", "TYPE_MISMATCH_ERR", "SECURITY_ERR", "NETWORK_ERR",
                 "ABORT_ERR", "URL_MISMATCH_ERR", "QUOTA_EXCEEDED_ERR", "TIMEOUT_ERR",
                 "INVALID_NODE_TYPE_ERR", "DATA_CLONE_ERR"];
               const d = Object.getOwnPropertyDescriptor(DOMException, "ABORT_ERR");
               [names.every((n, i) => DOMException[n] === i + 1 && DOMException.prototype[n] === i + 1
                   && new DOMException()[n] === i + 1),
                d.writable, d.enumerable, d.configurable]"#,
        );
        assert_eq!(result, "[true,false,true,false]");
    }

    #[test]
    fn is_an_error_with_a_stack_and_the_right_shape() {
        let result = run_ok(
            &Fake::default(),
            r#"function make() { return new DOMException("no", "AbortError"); }
               const e = make();
               const proto = DOMException.prototype;
               const name = Object.getOwnPropertyDescriptor(proto, "name");
               [e instanceof DOMException, e instanceof Error,
                Object.getPrototypeOf(proto) === Error.prototype,
                Object.getPrototypeOf(DOMException) === Function.prototype,
                Object.prototype.toString.call(e), String(e),
                typeof e.stack, /at make \(test\.js:1/.test(e.stack), /jsruntime/.test(e.stack),
                DOMException.length, DOMException.name,
                typeof name.get, name.enumerable, name.configurable,
                Object.keys(e), Object.getOwnPropertyNames(e).includes("message"),
                Object.getOwnPropertyDescriptor(DOMException, "prototype").writable,
                proto.constructor === DOMException]"#,
        );
        assert_eq!(
            result,
            r#"[true,true,true,true,"[object DOMException]","AbortError: no","string",true,false,0,"DOMException","function",true,true,[],false,false,true]"#
        );
    }

    #[test]
    fn brand_checks_and_new_are_enforced() {
        let result = run_ok(
            &Fake::default(),
            r#"const caught = (f) => { try { f(); return "no error"; } catch (e) { return e.constructor.name; } };
               const get = (key) => Object.getOwnPropertyDescriptor(DOMException.prototype, key).get;
               [caught(() => DOMException("x")), caught(() => get("name").call({})),
                caught(() => get("code").call(new Error("x"))), caught(() => DOMException.prototype.message),
                caught(() => new DOMException(Symbol("s")))]"#,
        );
        assert_eq!(
            result,
            r#"["TypeError","TypeError","TypeError","TypeError","TypeError"]"#
        );
    }

    #[test]
    fn can_be_subclassed() {
        let result = run_ok(
            &Fake::default(),
            r#"class MyError extends DOMException {
                 constructor(message) { super(message, "DataCloneError"); this.extra = 1; }
               }
               const e = new MyError("m");
               [e instanceof MyError, e instanceof DOMException, e.name, e.code, e.extra,
                Object.prototype.toString.call(e)]"#,
        );
        assert_eq!(
            result,
            r#"[true,true,"DataCloneError",25,1,"[object DOMException]"]"#
        );
    }

    #[test]
    fn a_thrown_one_is_reported_with_its_name_and_message() {
        let Err(Failure::Exception(info)) = run(
            &Fake::default(),
            "\nthrow new DOMException('it timed out', 'TimeoutError');",
        ) else {
            panic!("an exception expected");
        };
        assert_eq!(
            (info.name.as_deref(), info.message.as_str(), info.line),
            (Some("TimeoutError"), "it timed out", Some(2))
        );
    }

    #[test]
    fn the_global_is_writable_configurable_and_not_enumerable() {
        let result = run_ok(
            &Fake::default(),
            r#"const d = Object.getOwnPropertyDescriptor(globalThis, "DOMException");
               [d.writable, d.enumerable, d.configurable]"#,
        );
        assert_eq!(result, "[true,false,true]");
    }

    /// A native function that throws through [`super::throw`], defined for one test.
    fn define_thrower(ctx: &Ctx<'_>) -> Result<()> {
        ctx.globals().set(
            "nativeThrow",
            Func::from(|ctx: Ctx<'_>| -> Result<()> {
                Err(super::throw(&ctx, "DataCloneError", "cannot clone that"))
            }),
        )
    }

    #[test]
    fn native_code_throws_a_real_one_even_after_the_global_was_replaced() {
        let engine = crate::engine::Engine::new().expect("an engine");
        engine
            .with_run_context(define_thrower)
            .expect("defining the thrower");
        let source = r#"globalThis.DOMException = function Fake() {};
            try { nativeThrow(); "no error" } catch (e) {
              [e.name, e.message, e.code, e instanceof Error, Object.prototype.toString.call(e)]
            }"#;
        let bytecode = engine.compile("test.js", source).expect("compiles");
        crate::services::install(std::rc::Rc::new(Fake::default()));
        let result = engine
            .run(&bytecode, "test.js", None, crate::testing::LIMITS)
            .expect("runs");
        assert_eq!(
            result,
            r#"["DataCloneError","cannot clone that",25,true,"[object DOMException]"]"#
        );
    }
}
