//! Lenient deserialisation for fields we only read for routing: a string is kept, anything else
//! (number, null, object, array) is skipped instead of failing the whole callback. Sinch sends
//! values outside its own enums and shapes that differ between samples; routing must not care.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// `Some(string)` for a JSON string, `None` for any other JSON value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LenientString(pub Option<String>);

impl LenientString {
    pub fn into_inner(self) -> Option<String> {
        self.0
    }
}

impl<'de> serde::Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor).map(LenientString)
    }
}

struct LenientVisitor;

impl<'de> Visitor<'de> for LenientVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// A nested object we read a few fields of; anything that is not an object counts as absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LenientObject<T>(pub Option<T>);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for LenientObject<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(None)
            }
        }
        d.deserialize_any(ObjVisitor(std::marker::PhantomData))
            .map(LenientObject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, Default)]
    struct Probe {
        #[serde(default)]
        a: LenientString,
        #[serde(default)]
        o: LenientObject<Inner>,
    }
    #[derive(serde::Deserialize, Debug, Default, PartialEq)]
    struct Inner {
        #[serde(default)]
        id: LenientString,
    }

    fn probe(json: &str) -> Result<Probe, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn keeps_strings_and_skips_every_other_shape() {
        assert_eq!(probe(r#"{"a":"x"}"#).ok().and_then(|p| p.a.0), Some("x".to_owned()));
        for other in ["1", "-1", "1.5", "true", "null", "[1,[2]]", r#"{"k":{"z":1}}"#] {
            let p = probe(&format!(r#"{{"a":{other}}}"#));
            assert!(
                matches!(
                    p,
                    Ok(Probe {
                        a: LenientString(None),
                        ..
                    })
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn reads_objects_and_skips_non_objects() {
        let p = probe(r#"{"o":{"id":"z","more":[1]}}"#).map(|p| p.o.0);
        assert!(matches!(p, Ok(Some(Inner { id: LenientString(Some(ref z)) })) if z == "z"));
        for other in ["\"s\"", "1", "[{}]", "null"] {
            let p = probe(&format!(r#"{{"o":{other}}}"#)).map(|p| p.o.0);
            assert!(matches!(p, Ok(None)), "{other}");
        }
    }
}
