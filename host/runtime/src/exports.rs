//! What a component exports that can be called, and how a user-typed name
//! (`greet`, `values.echo`, `weft:testkit/values#echo`) finds it.

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex};
use weft_values::{Export, Signature, Ty};

use crate::error::HostError;

/// One callable export of a component.
#[derive(Clone)]
pub struct FunctionInfo {
    /// The canonical name: `greet` for a top-level function,
    /// `pkg:ns/iface.func` for one inside an exported interface.
    pub name: String,
    /// WIT-like signature, e.g. `func(name: string) -> string`.
    pub signature: String,
    /// Where it is exported and its WIT types, the runtime's own types
    /// (`object-ref`, `actor`) named as such.
    pub export: Export,
    pub(crate) index: ComponentExportIndex,
    pub(crate) results: usize,
    /// Why it cannot be called from outside, if it cannot (resource handles).
    pub(crate) uncallable: Option<String>,
    /// An `async func` export (component-model async): calls of it may
    /// run at once in one instance.
    pub is_async: bool,
}

/// Lists every exported function, top-level and one level inside exported
/// interfaces (component exports nest no deeper in practice), with the
/// types `described` gives it (see `weft_values::describe`).
pub(crate) fn exported_functions(
    engine: &Engine,
    component: &Component,
    described: &[Export],
) -> Result<Vec<FunctionInfo>, HostError> {
    let mut out = Vec::new();
    for (name, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(func) => {
                let index = export_index(component, None, name)?;
                out.push(FunctionInfo::new(None, name, index, &func, described));
            }
            ComponentItem::ComponentInstance(instance) => {
                let instance_index = export_index(component, None, name)?;
                for (fname, fitem) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(func) = fitem.ty {
                        let index = export_index(component, Some(&instance_index), fname)?;
                        out.push(FunctionInfo::new(
                            Some(name),
                            fname,
                            index,
                            &func,
                            described,
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
        interface: Option<&str>,
        function: &str,
        index: ComponentExportIndex,
        func: &wasmtime::component::types::ComponentFunc,
        described: &[Export],
    ) -> Self {
        let export = described
            .iter()
            .find(|e| e.interface.as_deref() == interface && e.function == function)
            .cloned()
            .unwrap_or_else(|| Export {
                interface: interface.map(str::to_string),
                function: function.to_string(),
                // Not in the component's decoded type (cannot happen for a
                // valid component): listed, never called.
                signature: Signature {
                    params: func
                        .params()
                        .map(|(n, _)| (n.to_string(), Ty::Unsupported("unknown type".into())))
                        .collect(),
                    result: None,
                },
                is_async: func.async_(),
            });
        let uncallable = export
            .signature
            .params
            .iter()
            .find(|(_, t)| !t.is_passable())
            .map(|(n, _)| format!("parameter `{n}` is a resource or stream handle"));
        FunctionInfo {
            name: export.name(),
            signature: export.signature.to_string(),
            index,
            results: func.results().len(),
            uncallable,
            is_async: func.async_(),
            export,
        }
    }

    /// The parameters' names and types.
    pub fn params(&self) -> &[(String, Ty)] {
        &self.export.signature.params
    }
}

/// The methods of an actor of `class` (an exported resource; empty for an
/// instance actor, whose methods are the component's functions) that are
/// `async func` exports: the ones a concurrent actor runs.
pub fn async_methods<'a>(functions: &'a [FunctionInfo], class: &str) -> Vec<&'a str> {
    let method = format!("[method]{class}.");
    functions
        .iter()
        .filter(|f| class.is_empty() || f.name.contains(&method))
        .filter(|f| f.is_async)
        .map(|f| f.name.as_str())
        .collect()
}

/// Finds `requested` among `functions`, or says what is there instead.
pub fn find_function<'a>(
    functions: &'a [FunctionInfo],
    requested: &str,
) -> Result<&'a FunctionInfo, HostError> {
    weft_values::find_export(functions, |f| &f.export, requested).map_err(|e| {
        HostError::UnknownFunction {
            function: e.requested,
            available: e.available,
        }
    })
}
