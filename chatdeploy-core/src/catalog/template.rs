//! Placeholder templates: `"https://github.com/acme/app/releases/tag/{version}"`.
//!
//! A template is literal text with placeholders from a closed set (see
//! [`Placeholder`]). `{{` and `}}` stand for literal braces. Templates are
//! parsed once, when the catalog loads, so rendering cannot fail.

use std::collections::BTreeMap;
use std::fmt;

/// One value a template can refer to. The set is closed: any other name in
/// braces is refused when the catalog loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Placeholder {
    /// `{service}`: the canonical service name.
    Service,
    /// `{version}`: the requested version, e.g. a release tag.
    Version,
    /// `{env}`: the target environment.
    Env,
    /// `{requester}`: the user ID of whoever asked for the release.
    Requester,
    /// `{deployment_id}`: chatdeploy's ID of the release.
    DeploymentId,
    /// `{ticket}`: the ticket given with `for <ticket>`; empty when none was given.
    Ticket,
}

impl Placeholder {
    /// Every placeholder, in the order they are documented.
    pub const ALL: [Placeholder; 6] = [
        Self::Service,
        Self::Version,
        Self::Env,
        Self::Requester,
        Self::DeploymentId,
        Self::Ticket,
    ];

    /// The name written between the braces, e.g. `"deployment_id"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Version => "version",
            Self::Env => "env",
            Self::Requester => "requester",
            Self::DeploymentId => "deployment_id",
            Self::Ticket => "ticket",
        }
    }

    /// The placeholder with this exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The value of this placeholder in `ctx`.
    pub fn value<'a>(self, ctx: &TemplateContext<'a>) -> &'a str {
        match self {
            Self::Service => ctx.service,
            Self::Version => ctx.version,
            Self::Env => ctx.env,
            Self::Requester => ctx.requester,
            Self::DeploymentId => ctx.deployment_id,
            Self::Ticket => ctx.ticket.unwrap_or(""),
        }
    }

    /// All placeholders written out, for error messages:
    /// `{service} {version} {env} {requester} {deployment_id} {ticket}`.
    pub(crate) fn list() -> String {
        Self::ALL
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Placeholder {
    /// Writes the placeholder as it appears in a template, e.g. `{version}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.name())
    }
}

/// The values placeholders are replaced with, for one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateContext<'a> {
    /// The canonical service name (`{service}`).
    pub service: &'a str,
    /// The requested version (`{version}`).
    pub version: &'a str,
    /// The target environment (`{env}`).
    pub env: &'a str,
    /// The requester's user ID (`{requester}`).
    pub requester: &'a str,
    /// chatdeploy's deployment ID (`{deployment_id}`).
    pub deployment_id: &'a str,
    /// The ticket, if one was given (`{ticket}`; renders as `""` when `None`).
    pub ticket: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(Placeholder),
}

/// A parsed template: literal text and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    segments: Vec<Segment>,
}

/// Why a template could not be parsed. Offsets are byte offsets into the
/// template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    /// `{name}` where `name` is not a [`Placeholder`].
    Unknown { name: String, offset: usize },
    /// A `{` without a matching `}`.
    Unclosed { offset: usize },
    /// A single `}` without a `{` before it (write `}}` for a literal brace).
    Unopened { offset: usize },
}

impl TemplateError {
    /// Byte offset of the offending brace in the template text.
    pub(crate) fn offset(&self) -> usize {
        match self {
            Self::Unknown { offset, .. }
            | Self::Unclosed { offset }
            | Self::Unopened { offset } => *offset,
        }
    }
}

impl Template {
    /// Parses `text`, refusing unknown placeholders and unbalanced braces.
    pub(crate) fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' if rest.peek().is_some_and(|&(_, n)| n == '{') => {
                    rest.next();
                    literal.push('{');
                }
                '}' if rest.peek().is_some_and(|&(_, n)| n == '}') => {
                    rest.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::Unopened { offset: i }),
                '{' => {
                    let after = &text[i + 1..];
                    let Some(len) = after.find('}') else {
                        return Err(TemplateError::Unclosed { offset: i });
                    };
                    let name = &after[..len];
                    let placeholder =
                        Placeholder::from_name(name).ok_or_else(|| TemplateError::Unknown {
                            name: name.to_owned(),
                            offset: i,
                        })?;
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Placeholder(placeholder));
                    // Skip the name and the closing brace.
                    let end = i + 1 + len;
                    while rest.next_if(|&(j, _)| j <= end).is_some() {}
                }
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Self {
            source: text.to_owned(),
            segments,
        })
    }

    /// The template as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The placeholders used, in order of appearance (repeats included).
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Placeholder(p) => Some(*p),
            Segment::Literal(_) => None,
        })
    }

    /// Replaces every placeholder with its value from `ctx`.
    pub fn render(&self, ctx: &TemplateContext<'_>) -> String {
        let mut out = String::with_capacity(self.source.len() + 32);
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder(p) => out.push_str(p.value(ctx)),
            }
        }
        out
    }
}

impl fmt::Display for Template {
    /// Writes the template as written in the configuration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A service's automation parameters: parameter name to value template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterTemplate {
    entries: BTreeMap<String, Template>,
}

impl ParameterTemplate {
    pub(crate) fn new(entries: BTreeMap<String, Template>) -> Self {
        Self { entries }
    }

    /// The template of one parameter.
    pub fn get(&self, name: &str) -> Option<&Template> {
        self.entries.get(name)
    }

    /// Parameter names and templates, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Template)> + '_ {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the service passes no parameters.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every parameter rendered with `ctx`.
    pub fn render(&self, ctx: &TemplateContext<'_>) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .map(|(k, v)| (k.clone(), v.render(ctx)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: TemplateContext<'static> = TemplateContext {
        service: "app",
        version: "r-1.2.3",
        env: "production",
        requester: "U01",
        deployment_id: "d-42",
        ticket: None,
    };

    fn render(text: &str) -> String {
        match Template::parse(text) {
            Ok(t) => t.render(&CTX),
            Err(e) => panic!("{text:?} should parse: {e:?}"),
        }
    }

    #[test]
    fn renders_every_placeholder() {
        assert_eq!(
            render("{service}/{version}/{env}/{requester}/{deployment_id}/{ticket}"),
            "app/r-1.2.3/production/U01/d-42/"
        );
        let with_ticket = TemplateContext {
            ticket: Some("OPS-7"),
            ..CTX
        };
        let t = Template::parse("for {ticket}").expect("parses");
        assert_eq!(t.render(&with_ticket), "for OPS-7");
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(render("{{version}}"), "{version}");
        assert_eq!(render("{{{version}}}"), "{r-1.2.3}");
        assert_eq!(render("a}}b{{c"), "a}b{c");
        assert_eq!(render(""), "");
        assert_eq!(render("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn lists_placeholders_in_order() {
        let t = Template::parse("{version}-{env}-{version}").expect("parses");
        let found: Vec<_> = t.placeholders().collect();
        assert_eq!(
            found,
            [Placeholder::Version, Placeholder::Env, Placeholder::Version]
        );
        assert_eq!(t.as_str(), "{version}-{env}-{version}");
        assert_eq!(t.to_string(), "{version}-{env}-{version}");
    }

    #[test]
    fn refuses_unknown_and_unbalanced_placeholders() {
        assert_eq!(
            Template::parse("tag/{versoin}"),
            Err(TemplateError::Unknown {
                name: "versoin".into(),
                offset: 4
            })
        );
        assert_eq!(
            Template::parse("{}"),
            Err(TemplateError::Unknown {
                name: String::new(),
                offset: 0
            })
        );
        assert_eq!(
            Template::parse("{Version}"),
            Err(TemplateError::Unknown {
                name: "Version".into(),
                offset: 0
            })
        );
        assert_eq!(
            Template::parse("x{version"),
            Err(TemplateError::Unclosed { offset: 1 })
        );
        assert_eq!(
            Template::parse("version}"),
            Err(TemplateError::Unopened { offset: 7 })
        );
        assert_eq!(Template::parse("ü{x").map_err(|e| e.offset()), Err(2));
    }

    #[test]
    fn placeholder_names_round_trip() {
        for p in Placeholder::ALL {
            assert_eq!(Placeholder::from_name(p.name()), Some(p));
        }
        assert_eq!(
            Placeholder::list(),
            "{service} {version} {env} {requester} {deployment_id} {ticket}"
        );
    }
}
