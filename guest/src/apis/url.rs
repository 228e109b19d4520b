//! `URL` and `URLSearchParams`, as the WHATWG URL Standard defines them (sections 6.1,
//! "URL class", and 6.2, "URLSearchParams class").
//!
//! Parsing, serializing and the setters' state overrides are the `url` crate's, which
//! implements the standard's basic URL parser (with IDNA through `idna`) and has the
//! API's getters and setters in `url::quirks`; the form-urlencoded parser and
//! serializer (section 5) are its `form_urlencoded`. The classes are JavaScript
//! (`url.js`): WebIDL's argument conversions, brand checks, the live `searchParams`
//! list and its iterators are about JavaScript values, and the native part stays a few
//! pure functions over strings.
//!
//! A `URL` object keeps its URL as the href string and the components the getters
//! return; every setter re-parses the href here, applies the setter and hands back the
//! new components. The standard's URL record survives serialization and re-parsing
//! (it says so for the href setter's round trip), which is what makes keeping only the
//! string sound. Strings reach this module as USVStrings: `url.js` replaces lone
//! surrogates first, as WebIDL's conversion does, so every one is valid UTF-8 here.
//!
//! Not here: `URL.createObjectURL`/`revokeObjectURL` (File API; there are no blobs).

use rquickjs::{function::Func, qjs, Ctx, Error, IntoJs, Object, Result, Value};
use url::{form_urlencoded, quirks, Url};

use super::Api;

/// `URL`, `URLSearchParams`.
pub const API: Api = Api {
    name: "url",
    native: natives,
    js: Some(include_str!("url.js")),
};

/// The setters [`set`] applies, numbered as `url.js` numbers them.
mod setter {
    pub const HREF: u32 = 0;
    pub const PROTOCOL: u32 = 1;
    pub const USERNAME: u32 = 2;
    pub const PASSWORD: u32 = 3;
    pub const HOST: u32 = 4;
    pub const HOSTNAME: u32 = 5;
    pub const PORT: u32 = 6;
    pub const PATHNAME: u32 = 7;
    pub const SEARCH: u32 = 8;
    pub const HASH: u32 = 9;
    /// Not a setter of the API: the "update steps" of a `URLSearchParams` that belongs
    /// to a URL (section 6.2), with the list's serialization as the value.
    pub const QUERY_FROM_PARAMS: u32 = 10;
}

/// `{ parse, set, parseQuery, serializeQuery }` for `url.js`.
fn natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("parse", Func::from(parse))?;
    natives.set("set", Func::from(set))?;
    natives.set("parseQuery", Func::from(parse_query))?;
    natives.set("serializeQuery", Func::from(serialize_query))?;
    natives.into_js(ctx)
}

/// A JavaScript array of `items`, its elements defined rather than assigned: rquickjs's
/// conversion of a `Vec` assigns them, which runs any index setter a script put on
/// `Array.prototype`.
fn string_array<'js>(ctx: &Ctx<'js>, items: &[String]) -> Result<Value<'js>> {
    let raw_ctx = ctx.as_raw().as_ptr();
    // SAFETY: `raw_ctx` is this context; the new array is owned by `Value` from here on;
    // each element passed to JS_DefinePropertyValueUint32 is a new reference, which it
    // takes.
    unsafe {
        let array = qjs::JS_NewArray(raw_ctx);
        if qjs::JS_IsException(array) {
            return Err(Error::Exception);
        }
        let array = Value::from_raw(ctx.clone(), array);
        for (index, item) in (0u32..).zip(items) {
            let item = rquickjs::String::from_str(ctx.clone(), item)?.into_value();
            let defined = qjs::JS_DefinePropertyValueUint32(
                raw_ctx,
                array.as_raw(),
                index,
                qjs::JS_DupValue(raw_ctx, item.as_raw()),
                qjs::JS_PROP_C_W_E as i32,
            );
            if defined < 0 {
                return Err(Error::Exception);
            }
        }
        Ok(array)
    }
}

/// [`components`] as a JavaScript array, or `undefined` for none.
fn components_value<'js>(ctx: &Ctx<'js>, url: Option<Url>) -> Result<Value<'js>> {
    match url {
        Some(url) => string_array(ctx, &components(&url)),
        None => Ok(Value::new_undefined(ctx.clone())),
    }
}

/// The API's view of a URL: href, origin, protocol, username, password, host,
/// hostname, port, pathname, search, hash (the order `url.js` reads them in).
fn components(url: &Url) -> Vec<String> {
    vec![
        quirks::href(url).to_owned(),
        quirks::origin(url),
        quirks::protocol(url).to_owned(),
        quirks::username(url).to_owned(),
        quirks::password(url).to_owned(),
        quirks::host(url).to_owned(),
        quirks::hostname(url).to_owned(),
        quirks::port(url).to_owned(),
        quirks::pathname(url).to_owned(),
        quirks::search(url).to_owned(),
        quirks::hash(url).to_owned(),
    ]
}

/// The "API URL parser": `input` against `base` (itself parsed first), or `None` for
/// failure.
fn parse_url(input: &str, base: Option<&str>) -> Option<Url> {
    let base = match base {
        Some(base) => Some(Url::parse(base).ok()?),
        None => None,
    };
    Url::options().base_url(base.as_ref()).parse(input).ok()
}

/// Parses `input` (against `base`) into its [`components`], or `undefined` for failure.
fn parse<'js>(ctx: Ctx<'js>, input: String, base: Option<String>) -> Result<Value<'js>> {
    components_value(&ctx, parse_url(&input, base.as_deref()))
}

/// Applies setter `which` with `value` to the URL `href` serializes; its new
/// components, or `undefined` when the href setter's parse fails (the only setter that
/// throws). A setter whose value the standard ignores leaves the URL as it was.
fn set<'js>(ctx: Ctx<'js>, href: String, which: u32, value: String) -> Result<Value<'js>> {
    components_value(&ctx, apply_setter(&href, which, &value))
}

/// [`set`]'s URL.
fn apply_setter(href: &str, which: u32, value: &str) -> Option<Url> {
    let value = value.to_owned();
    let mut url = Url::parse(href).ok()?;
    // The setters' own failures mean "leave the URL unchanged", as the standard's
    // state overrides do; only the href setter reports one.
    match which {
        setter::HREF => quirks::set_href(&mut url, &value).ok()?,
        setter::PROTOCOL => drop(quirks::set_protocol(&mut url, &value)),
        setter::USERNAME => drop(quirks::set_username(&mut url, &value)),
        setter::PASSWORD => drop(quirks::set_password(&mut url, &value)),
        setter::HOST => drop(quirks::set_host(&mut url, &value)),
        setter::HOSTNAME => drop(quirks::set_hostname(&mut url, &value)),
        setter::PORT => drop(quirks::set_port(&mut url, &value)),
        setter::PATHNAME => quirks::set_pathname(&mut url, &value),
        setter::SEARCH => quirks::set_search(&mut url, &value),
        setter::HASH => quirks::set_hash(&mut url, &value),
        setter::QUERY_FROM_PARAMS => {
            // An empty list serializes to "", which the update steps make a null query
            // (`set_query(None)` also strips an opaque path's trailing spaces).
            url.set_query(if value.is_empty() { None } else { Some(&value) })
        }
        _ => {}
    }
    Some(url)
}

/// The application/x-www-form-urlencoded parser: `input`'s name-value pairs, flattened
/// (`[name0, value0, name1, value1, ...]`).
fn parse_query<'js>(ctx: Ctx<'js>, input: String) -> Result<Value<'js>> {
    let mut flat = Vec::new();
    for (name, value) in form_urlencoded::parse(input.as_bytes()) {
        flat.push(name.into_owned());
        flat.push(value.into_owned());
    }
    string_array(&ctx, &flat)
}

/// The application/x-www-form-urlencoded serializer (UTF-8) of flattened pairs, as
/// [`parse_query`] gives them.
fn serialize_query(flat: Vec<String>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for pair in flat.chunks_exact(2) {
        serializer.append_pair(&pair[0], &pair[1]);
    }
    serializer.finish()
}

#[cfg(test)]
mod tests {
    use crate::testing::{run, run_ok, Fake};

    fn eval(source: &str) -> String {
        run_ok(&Fake::default(), source)
    }

    #[test]
    fn parses_and_exposes_every_component() {
        assert_eq!(
            eval(
                r##"const u = new URL("HTTPS://user:pa%20ss@EXAMPLE.com:8080/a/./b/../c?x=1&y=2#frag");
                   [u.href, u.origin, u.protocol, u.username, u.password, u.host, u.hostname,
                    u.port, u.pathname, u.search, u.hash]"##
            ),
            r##"["https://user:pa%20ss@example.com:8080/a/c?x=1&y=2#frag","https://example.com:8080","https:","user","pa%20ss","example.com:8080","example.com","8080","/a/c","?x=1&y=2","#frag"]"##
        );
    }

    #[test]
    fn parses_against_a_base_and_normalizes_as_the_standard_says() {
        assert_eq!(
            eval(
                r##"[
                  new URL("../d?q", "http://h/a/b/c").href,
                  new URL("//other/p", "https://h/x").href,
                  new URL("?only", "http://h/p?old#f").href,
                  new URL("#f2", "http://h/p?q#f").href,
                  new URL("http://h:80/").href,
                  new URL("https://h:443").port,
                  new URL("http://0x7f.1/").hostname,
                  new URL("http://[::ffff:1.2.3.4]/").host,
                  new URL("http://faß.de/").hostname,
                  new URL("http://münchen.example/ä?ü#ö").href,
                  new URL("file:///C:/x/../y").href,
                  new URL("data:text/plain,hi there").pathname,
                  new URL("blob:https://a.example/uuid").origin,
                  new URL("mailto:x@y").origin,
                  new URL("  http://h/\t\na b  ").href,
                  new URL("http://h/p", undefined).href,
                ]"##
            ),
            concat!(
                r##"["http://h/a/d?q","https://other/p","http://h/p?only","http://h/p?q#f2","http://h/","","127.0.0.1","##,
                r##""[::ffff:102:304]","xn--fa-hia.de","http://xn--mnchen-3ya.example/%C3%A4?%C3%BC#%C3%B6","file:///C:/y","##,
                r##""text/plain,hi there","https://a.example","null","http://h/a%20b","http://h/p"]"##
            )
        );
    }

    #[test]
    fn failures_throw_type_errors_and_the_statics_do_not() {
        assert_eq!(
            eval(
                r##"const threw = (f) => { try { f(); return "no"; } catch (e) { return e.constructor.name; } };
                   [threw(() => new URL("nope")), threw(() => new URL("/p", "also nope")),
                    threw(() => new URL("http://exa mple/")), threw(() => new URL("http://[::1/")),
                    threw(() => new URL()), threw(() => URL("http://h/")),
                    URL.canParse("http://h/"), URL.canParse("p", "http://h/"), URL.canParse("p"),
                    URL.parse("nope"), URL.parse("p", "http://h/q").href,
                    URL.parse("http://h/") instanceof URL, threw(() => URL.canParse())]"##
            ),
            r##"["TypeError","TypeError","TypeError","TypeError","TypeError","TypeError",true,true,false,null,"http://h/p",true,"TypeError"]"##
        );
    }

    #[test]
    fn setters_follow_the_state_overrides() {
        assert_eq!(
            eval(
                r##"const u = new URL("http://h/p?q#f");
                   const seen = [];
                   const note = () => seen.push(u.href);
                   u.protocol = "https"; note();
                   u.protocol = "mailto"; note();          // special to non-special: ignored
                   u.username = "me"; u.password = "p@ss"; note();
                   u.host = "other.example:81"; note();
                   u.hostname = "third"; note();
                   u.port = "443"; note();                 // the default port is dropped
                   u.port = "99999"; note();               // out of range: ignored
                   u.port = "8080abc"; note();             // leading digits count
                   u.pathname = "a b/c"; note();
                   u.search = "x=ü"; note();
                   u.hash = "h h"; note();
                   u.search = ""; u.hash = ""; note();
                   u.href = "ws://w/"; note();
                   let threw = false;
                   try { u.href = "not a url"; } catch (e) { threw = e instanceof TypeError; }
                   note();
                   [seen, threw]"##
            ),
            concat!(
                r##"[["https://h/p?q#f","https://h/p?q#f","https://me:p%40ss@h/p?q#f","https://me:p%40ss@other.example:81/p?q#f","##,
                r##""https://me:p%40ss@third:81/p?q#f","https://me:p%40ss@third/p?q#f","https://me:p%40ss@third/p?q#f","##,
                r##""https://me:p%40ss@third:8080/p?q#f","https://me:p%40ss@third:8080/a%20b/c?q#f","##,
                r##""https://me:p%40ss@third:8080/a%20b/c?x=%C3%BC#f","https://me:p%40ss@third:8080/a%20b/c?x=%C3%BC#h%20h","##,
                r##""https://me:p%40ss@third:8080/a%20b/c","ws://w/","ws://w/"],true]"##
            )
        );
    }

    #[test]
    fn to_string_and_to_json_are_the_href() {
        assert_eq!(
            eval(
                r##"const u = new URL("http://h/p");
                   [String(u), u.toString(), u.toJSON(), JSON.stringify({u}), `${u}`]"##
            ),
            r##"["http://h/p","http://h/p","http://h/p","{\"u\":\"http://h/p\"}","http://h/p"]"##
        );
    }

    #[test]
    fn search_params_are_live_in_both_directions() {
        assert_eq!(
            eval(
                r##"const u = new URL("http://h/p?a=1&b=2");
                   const p = u.searchParams;
                   const out = [p === u.searchParams, p.get("a")];
                   p.append("c", "x y");
                   out.push(u.href);
                   u.search = "?z=9";
                   out.push(p.get("a"), p.get("z"), p.size);
                   p.delete("z");
                   out.push(u.href, u.search);
                   u.href = "http://h/?k=v";
                   out.push([...p].join());
                   const opaque = new URL("data:space    ?query");
                   opaque.searchParams.delete("query");
                   out.push(opaque.href);
                   out"##
            ),
            r##"[true,"1","http://h/p?a=1&b=2&c=x+y",null,"9",1,"http://h/p","","k,v","data:space"]"##
        );
    }

    #[test]
    fn search_params_constructors() {
        assert_eq!(
            eval(
                r##"const s = (p) => p.toString();
                   [s(new URLSearchParams()), s(new URLSearchParams("?a=1&&b=%zz&c&=d&e=f=g+h")),
                    s(new URLSearchParams("??a")), s(new URLSearchParams([["x", 1], ["y", "2"]])),
                    s(new URLSearchParams({k: "v", n: 3})), s(new URLSearchParams(new URLSearchParams("q=1"))),
                    s(new URLSearchParams(new Map([["m", "1"]]))), s(new URLSearchParams(null)),
                    s(new URLSearchParams(undefined)), s(new URLSearchParams(12))]"##
            ),
            r##"["","a=1&b=%25zz&c=&=d&e=f%3Dg+h","%3Fa=","x=1&y=2","k=v&n=3","q=1","m=1","null=","","12="]"##
        );
        assert_eq!(
            eval(
                r##"const threw = (f) => { try { f(); return "no"; } catch (e) { return e.constructor.name; } };
                   [threw(() => new URLSearchParams([["a"]])), threw(() => new URLSearchParams([["a", "b", "c"]])),
                    threw(() => new URLSearchParams([1])), threw(() => URLSearchParams()),
                    threw(() => new URLSearchParams({[Symbol()]: 1}))]"##
            ),
            r##"["TypeError","TypeError","TypeError","TypeError","TypeError"]"##
        );
    }

    #[test]
    fn search_params_methods() {
        assert_eq!(
            eval(
                r##"const p = new URLSearchParams("a=1&b=2&a=3");
                   const out = [p.get("a"), p.get("x"), p.getAll("a"), p.has("a"), p.has("a", "3"),
                                p.has("a", "4"), p.size];
                   p.append("a", "4"); p.set("b", "9"); p.set("new", "n");
                   out.push(p.toString());
                   p.set("a", "only"); out.push(p.toString());
                   p.append("a", "x"); p.delete("a", "only"); out.push(p.toString());
                   p.delete("a"); out.push(p.toString(), p.size);
                   out.push(p.has("b", undefined), p.has("b", "9"));
                   out"##
            ),
            r##"["1",null,["1","3"],true,true,false,3,"a=1&b=9&a=3&a=4&new=n","a=only&b=9&new=n","b=9&new=n&a=x","b=9&new=n",2,true,true]"##
        );
    }

    #[test]
    fn sort_is_stable_and_by_code_units() {
        assert_eq!(
            eval(
                r##"const p = new URLSearchParams();
                   for (const [n, v] of [["z", "1"], ["a", "2"], ["\uFFFD", "3"], ["\u{1F600}", "4"], ["a", "5"], ["", "6"], ["Z", "7"]]) p.append(n, v);
                   p.sort();
                   [...p.keys()].map((k) => [...k].map((c) => c.codePointAt(0).toString(16)).join("+")).concat([...p.values()].join(""))"##
            ),
            r##"["","5a","61","61","7a","1f600","fffd","6725143"]"##
        );
    }

    #[test]
    fn serializer_encodes_as_form_urlencoded() {
        assert_eq!(
            eval(
                r##"const p = new URLSearchParams();
                   p.append("a b", "c+d&e=f"); p.append("ü*-._~!", "\ud800"); p.append("%", "/?#");
                   [p.toString(), new URLSearchParams(p.toString()).get("ü*-._~!")]"##
            ),
            r##"["a+b=c%2Bd%26e%3Df&%C3%BC*-._%7E%21=%EF%BF%BD&%25=%2F%3F%23","�"]"##
        );
    }

    #[test]
    fn iteration_is_live_with_webidl_iterators() {
        assert_eq!(
            eval(
                r##"const p = new URLSearchParams("a=1&b=2");
                   const it = p.entries();
                   const proto = Object.getPrototypeOf(it);
                   const out = [Object.prototype.toString.call(it), typeof proto.next, proto.next.length,
                                Object.getPrototypeOf(proto) === Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())),
                                p[Symbol.iterator] === p.entries, Object.getPrototypeOf(p.keys()) === proto];
                   out.push(it.next());
                   p.append("c", "3");
                   out.push(it.next().value, it.next().value, it.next());
                   const seen = [];
                   p.forEach(function (value, key, params) { seen.push(key + value, params === p, this); }, "t");
                   out.push(seen);
                   let threw = false;
                   try { proto.next.call({}); } catch (e) { threw = e instanceof TypeError; }
                   out.push(threw);
                   out"##
            ),
            r##"["[object URLSearchParams Iterator]","function",0,true,true,true,{"value":["a","1"],"done":false},["b","2"],["c","3"],{"done":true},["a1",true,"t","b2",true,"t","c3",true,"t"],true]"##
        );
    }

    #[test]
    fn classes_have_webidl_shapes() {
        assert_eq!(
            eval(
                r##"const d = (o, k) => { const x = Object.getOwnPropertyDescriptor(o, k); return [x.enumerable, x.configurable, "value" in x ? x.writable : typeof x.get + typeof x.set]; };
                   const lengths = (proto) => Object.getOwnPropertyNames(proto).filter((k) => typeof Object.getOwnPropertyDescriptor(proto, k).value === "function").map((k) => k + proto[k].length).join();
                   [URL.length, URL.name, URLSearchParams.length, URLSearchParams.name,
                    URL.canParse.length, URL.parse.length,
                    Object.prototype.toString.call(new URL("http://h/")), Object.prototype.toString.call(new URLSearchParams()),
                    d(globalThis, "URL"), d(globalThis, "URLSearchParams"), d(URL.prototype, "href"), d(URL.prototype, "origin"),
                    d(URL.prototype, "toString"), d(URL.prototype, Symbol.toStringTag), d(URLSearchParams.prototype, "size"),
                    d(URL, "prototype"),
                    lengths(URL.prototype), lengths(URLSearchParams.prototype)]"##
            ),
            concat!(
                r##"[1,"URL",0,"URLSearchParams",1,1,"[object URL]","[object URLSearchParams]","##,
                r##"[false,true,true],[false,true,true],[true,true,"functionfunction"],[true,true,"functionundefined"],"##,
                r##"[true,true,true],[false,true,false],[true,true,"functionundefined"],[false,false,false],"##,
                r##""constructor1,toString0,toJSON0","constructor0,append2,delete1,get1,getAll1,has1,set2,sort0,toString0,entries0,keys0,values0,forEach1""##,
                r##"]"##
            )
        );
    }

    #[test]
    fn the_functions_print_as_built_ins_do() {
        assert_eq!(
            eval(
                r##"[String(URL), String(URLSearchParams.prototype.append), String(Object.getOwnPropertyDescriptor(URL.prototype, "href").get)]
                     .map((text) => text.includes("[native code]") && !text.includes("#c"))"##
            ),
            "[true,true,true]"
        );
    }

    #[test]
    fn brand_checks_throw_type_errors() {
        assert_eq!(
            eval(
                r##"const threw = (f) => { try { f(); return "no"; } catch (e) { return e instanceof TypeError; } };
                   const href = Object.getOwnPropertyDescriptor(URL.prototype, "href");
                   const size = Object.getOwnPropertyDescriptor(URLSearchParams.prototype, "size");
                   [threw(() => href.get.call({})), threw(() => href.set.call({}, "http://h/")),
                    threw(() => URL.prototype.toString.call(new URLSearchParams())),
                    threw(() => URLSearchParams.prototype.get.call(new URL("http://h/"), "a")),
                    threw(() => size.get.call({})), threw(() => URLSearchParams.prototype.entries.call({})),
                    threw(() => new URL("http://h/").searchParams.get())]"##
            ),
            "[true,true,true,true,true,true,true]"
        );
    }

    #[test]
    fn a_subclass_works_and_tampered_builtins_do_not_matter() {
        assert_eq!(
            eval(
                r##"class MyURL extends URL { get extra() { return this.host + "!"; } }
                   const m = new MyURL("http://sub/");
                   Array.prototype.push = () => { throw new Error("tampered"); };
                   Array.prototype.splice = () => { throw new Error("tampered"); };
                   String.prototype.toWellFormed = () => "tampered";
                   for (const i of ["0", "1", "2"]) Object.defineProperty(Array.prototype, i, { set() { throw new Error("tampered"); }, configurable: true });
                   const p = new URLSearchParams("b=1&a=2"); p.append("c", "3"); p.sort(); p.delete("b");
                   [m.extra, m instanceof URL, p.toString(), new URL("http://h/\ud800").pathname, p.getAll("a"), ["0", "1", "2"].every((i) => delete Array.prototype[i])]"##
            ),
            r##"["sub!",true,"a=2&c=3","/%EF%BF%BD",["2"],true]"##
        );
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(
            eval(
                r##"const p = new URLSearchParams(); p.append("\udc00", "a\ud800");
                   [p.toString(), new URL("http://h/?\ud800").search, new URL("http://h/#\udfff").hash]"##
            ),
            r##"["%EF%BF%BD=a%EF%BF%BD","?%EF%BF%BD","#%EF%BF%BD"]"##
        );
    }

    #[test]
    fn a_bad_base_or_input_never_fails_the_run() {
        // Inputs that exercise the parser's edges: the run must end with a value.
        assert!(run(
            &Fake::default(),
            r##"const inputs = ["", "http://", "http://[", "http://%", "ftp://x:y@", "\u0000", "http://a.b.c.d.e/" + "x".repeat(100000),
                              "http://" + "a.".repeat(1000), "javascript:alert(1)", "http://1.2.3.4.5/", "http://999999999999/"];
               inputs.map((i) => URL.canParse(i))"##
        )
        .is_ok());
    }
}
