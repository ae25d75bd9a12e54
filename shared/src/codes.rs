//! Stable codes as enums: every reason a log line, a metric dimension or an attribute can carry
//! is a variant with its code, listed once, so the reference can be checked against `ALL`.

/// `codes! { Name { Variant => "code", … } }`: the enum, `ALL`, `as_str` and `Display`.
macro_rules! codes {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $code:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable code in logs, metrics and attributes.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $code,)* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use codes;
