//! Options that users name in kebab-case (`features-svm`, `sgd-nesterov`, `cuda`): every such
//! enum derives serde's `rename_all = "kebab-case"` names, and [`kebab_names!`] makes those
//! names its `FromStr` and `Display` too — one mechanism, so a name is spelled in one place
//! and a parse error lists every accepted name.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The value named `s` (its serde name); the error lists the accepted names.
pub fn parse<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|e| e.to_string())
}

/// The serde name of a unit variant (empty for a value serde does not render as a string).
pub fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// `FromStr` (`Err = String`) and `Display` through the enums' serde names.
macro_rules! kebab_names {
    ($($t:ty),+ $(,)?) => {$(
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                $crate::names::parse(s)
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&$crate::names::name(self))
            }
        }
    )+};
}
pub(crate) use kebab_names;

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Colour {
        DeepRed,
        Blue,
    }
    kebab_names!(Colour);

    #[test]
    fn names_round_trip_and_errors_list_the_choices() {
        assert_eq!("deep-red".parse::<Colour>(), Ok(Colour::DeepRed));
        assert_eq!(Colour::Blue.to_string(), "blue");
        let e = "green".parse::<Colour>().unwrap_err();
        assert!(
            e.contains("green") && e.contains("deep-red") && e.contains("blue"),
            "{e}"
        );
    }
}
