//! From a specifier to a module name.
//!
//! - A *relative* specifier (`./x.js`, `../lib/x.js`) is joined to the directory of the
//!   importing module's name: `./tax.js` imported by `rules/price.js` is `rules/tax.js`,
//!   `../lib/x.js` is `lib/x.js`. `.` segments are dropped, each `..` removes one
//!   directory; one `..` too many is refused (it climbs above the top of the names).
//! - Any other specifier (`lib/tax`, `@acme/rates`, `https://…`) is the name as written:
//!   what it means is the loader's business.
//!
//! The host alone resolves (the guest follows the links it is handed), so one function
//! decides what every name means.

/// The name `specifier` leads to from the module named `importer`, or why it leads
/// nowhere.
pub(crate) fn resolve(importer: &str, specifier: &str) -> Result<String, String> {
    if specifier.is_empty() {
        return Err("the specifier is empty".to_owned());
    }
    let relative = specifier == "."
        || specifier == ".."
        || specifier.starts_with("./")
        || specifier.starts_with("../");
    if !relative {
        return Ok(specifier.to_owned());
    }
    let mut segments: Vec<&str> = importer.split('/').collect();
    // The importer's own file name: what remains is its directory.
    segments.pop();
    for segment in specifier.split('/') {
        match segment {
            "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(format!(
                        "it climbs above the top of the module names (from {importer:?})"
                    ));
                }
            }
            segment => segments.push(segment),
        }
    }
    Ok(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn relative_specifiers_join_the_importers_directory() {
        let cases = [
            ("main.js", "./tax.js", "tax.js"),
            ("rules/price.js", "./tax.js", "rules/tax.js"),
            ("rules/price.js", "../lib/x.js", "lib/x.js"),
            ("a/b/c.js", "./../d/./e.js", "a/d/e.js"),
            ("a/b/c.js", "../../x.js", "x.js"),
            (
                "https://acme.test/m/a.js",
                "./b.js",
                "https://acme.test/m/b.js",
            ),
        ];
        for (importer, specifier, expected) in cases {
            assert_eq!(
                resolve(importer, specifier).as_deref(),
                Ok(expected),
                "{importer} {specifier}"
            );
        }
    }

    #[test]
    fn other_specifiers_are_names_as_written() {
        assert_eq!(resolve("rules/a.js", "lib/tax").as_deref(), Ok("lib/tax"));
        assert_eq!(resolve("a.js", "@acme/rates").as_deref(), Ok("@acme/rates"));
    }

    #[test]
    fn climbing_above_the_top_and_empty_specifiers_are_refused() {
        assert!(resolve("main.js", "../x.js").is_err());
        assert!(resolve("a/b.js", "../../x.js").is_err());
        assert!(resolve("a.js", "").is_err());
    }
}
