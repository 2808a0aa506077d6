//! What a component exports that can be called, and how a user-typed name
//! (`greet`, `values.echo`, `weft:testkit/values#echo`) finds it.

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, Type};

use crate::error::HostError;
use crate::values::render_signature;

/// One callable export of a component.
#[derive(Clone)]
pub struct FunctionInfo {
    /// The canonical name: `greet` for a top-level function,
    /// `pkg:ns/iface.func` for one inside an exported interface.
    pub name: String,
    /// WIT-like signature, e.g. `func(name: string) -> string`.
    pub signature: String,
    /// The exported instance's full name (with version) for functions in an
    /// interface; used to match short forms of the name.
    interface: Option<String>,
    pub(crate) index: ComponentExportIndex,
    pub(crate) params: Vec<(String, Type)>,
    pub(crate) results: usize,
    /// Why it cannot be called from outside, if it cannot (resource handles).
    pub(crate) uncallable: Option<String>,
}

/// Lists every exported function, top-level and one level inside exported
/// interfaces (component exports nest no deeper in practice).
pub(crate) fn exported_functions(
    engine: &Engine,
    component: &Component,
) -> Result<Vec<FunctionInfo>, HostError> {
    let mut out = Vec::new();
    for (name, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(func) => {
                let index = export_index(component, None, name)?;
                out.push(FunctionInfo::new(name.to_string(), None, index, &func));
            }
            ComponentItem::ComponentInstance(instance) => {
                let instance_index = export_index(component, None, name)?;
                for (fname, fitem) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(func) = fitem.ty {
                        let index = export_index(component, Some(&instance_index), fname)?;
                        let canonical = format!("{}.{fname}", strip_version(name));
                        out.push(FunctionInfo::new(
                            canonical,
                            Some(name.to_string()),
                            index,
                            &func,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn export_index(
    component: &Component,
    instance: Option<&ComponentExportIndex>,
    name: &str,
) -> Result<ComponentExportIndex, HostError> {
    component
        .get_export_index(instance, name)
        .ok_or_else(|| HostError::internal(format!("export `{name}` listed but not found")))
}

impl FunctionInfo {
    fn new(
        name: String,
        interface: Option<String>,
        index: ComponentExportIndex,
        func: &wasmtime::component::types::ComponentFunc,
    ) -> Self {
        let params: Vec<(String, Type)> = func.params().map(|(n, t)| (n.to_string(), t)).collect();
        let uncallable = params
            .iter()
            .find(|(_, t)| mentions_handle(t))
            .map(|(n, _)| format!("parameter `{n}` is a resource or stream handle"));
        FunctionInfo {
            signature: render_signature(func),
            name,
            interface,
            index,
            results: func.results().len(),
            params,
            uncallable,
        }
    }

    /// Whether a user-typed `requested` name refers to this function.
    ///
    /// Accepted for a function `f` in interface `pkg:ns/iface@1.0.0`:
    /// `pkg:ns/iface.f`, `pkg:ns/iface@1.0.0.f`, `pkg:ns/iface#f`,
    /// `pkg:ns/iface@1.0.0#f`, `iface.f` and `iface#f`.
    pub(crate) fn answers_to(&self, requested: &str) -> bool {
        let Some(interface) = &self.interface else {
            return self.name == requested;
        };
        let (iface, func) = match requested.split_once('#') {
            Some(split) => split,
            None => match strip_trailing_version(requested).rsplit_once('.') {
                Some(split) => split,
                None => return false,
            },
        };
        let Some(own_func) = self.name.rsplit('.').next() else {
            return false;
        };
        if func != own_func {
            return false;
        }
        let full = strip_version(interface);
        let short = full.rsplit('/').next().unwrap_or(full);
        let iface = strip_version(iface);
        iface == full || iface == short
    }
}

/// Finds `requested` among `functions`, or says what is there instead.
pub(crate) fn resolve<'a>(
    functions: &'a [FunctionInfo],
    requested: &str,
) -> Result<&'a FunctionInfo, HostError> {
    let mut matches = functions.iter().filter(|f| f.answers_to(requested));
    match (matches.next(), matches.next()) {
        (Some(f), None) => Ok(f),
        (Some(_), Some(_)) => Err(HostError::UnknownFunction {
            function: requested.to_string(),
            available: format!("(ambiguous) {}", names(functions)),
        }),
        (None, _) => Err(HostError::UnknownFunction {
            function: requested.to_string(),
            available: names(functions),
        }),
    }
}

fn names(functions: &[FunctionInfo]) -> String {
    if functions.is_empty() {
        return "nothing".into();
    }
    functions
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn strip_version(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// `pkg:ns/iface.f@1.0.0` -> `pkg:ns/iface.f` (the WAVE call syntax puts
/// the version last).
fn strip_trailing_version(name: &str) -> &str {
    match name.rsplit_once('@') {
        Some((head, version)) if version.chars().all(|c| c.is_ascii_digit() || c == '.') => head,
        _ => name,
    }
}

fn mentions_handle(ty: &Type) -> bool {
    match ty {
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            true
        }
        Type::List(l) => mentions_handle(&l.ty()),
        Type::FixedLengthList(l) => mentions_handle(&l.ty()),
        Type::Map(m) => mentions_handle(&m.key()) || mentions_handle(&m.value()),
        Type::Record(r) => r.fields().any(|f| mentions_handle(&f.ty)),
        Type::Tuple(t) => t.types().any(|t| mentions_handle(&t)),
        Type::Variant(v) => v
            .cases()
            .any(|c| c.ty.as_ref().is_some_and(mentions_handle)),
        Type::Option(o) => mentions_handle(&o.ty()),
        Type::Result(r) => {
            r.ok().as_ref().is_some_and(mentions_handle)
                || r.err().as_ref().is_some_and(mentions_handle)
        }
        _ => false,
    }
}
