//! The signatures a component exports, read from its type section without
//! compiling it (the WIT decoder of `wit-parser`), with the runtime's own
//! types recognised by their WIT identity: a type named `object-ref`
//! defined by `weft:runtime/types` is a [`Ty::ObjectRef`], one named
//! `actor` defined by `weft:runtime/actors` a [`Ty::Actor`], however the
//! component aliased them; any other record is a record.

use wit_parser::decoding::{DecodedWasm, decode};
use wit_parser::{Resolve, Type, TypeDefKind, TypeId, TypeOwner, WorldItem};

use crate::{Export, Signature, Ty};

/// Why a component's exports could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescribeError {
    /// Not a component (a core module, a WIT package, or not WebAssembly).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
}

/// Every function `wasm` exports, top level and in exported interfaces.
pub fn describe(wasm: &[u8]) -> Result<Vec<Export>, DescribeError> {
    let decoded = decode(wasm).map_err(|e| DescribeError::NotAComponent(format!("{e:#}")))?;
    let DecodedWasm::Component(resolve, world) = decoded else {
        return Err(DescribeError::NotAComponent(
            "it is a WIT package, not a component".into(),
        ));
    };
    Ok(exports_of(&resolve, world))
}

/// The functions `world` exports, top level and in exported interfaces.
pub(crate) fn exports_of(resolve: &Resolve, world: wit_parser::WorldId) -> Vec<Export> {
    let mut out = Vec::new();
    for (key, item) in &resolve.worlds[world].exports {
        match item {
            WorldItem::Function(func) => out.push(Export {
                interface: None,
                function: func.name.clone(),
                signature: signature(resolve, func),
                is_async: func.kind.is_async(),
            }),
            WorldItem::Interface { id, .. } => {
                let name = resolve.name_world_key(key);
                for func in resolve.interfaces[*id].functions.values() {
                    out.push(Export {
                        interface: Some(name.clone()),
                        function: func.name.clone(),
                        signature: signature(resolve, func),
                        is_async: func.kind.is_async(),
                    });
                }
            }
            WorldItem::Type { .. } => {}
        }
    }
    out
}

fn signature(resolve: &Resolve, func: &wit_parser::Function) -> Signature {
    Signature {
        params: func
            .params
            .iter()
            .map(|p| (p.name.clone(), ty(resolve, &p.ty)))
            .collect(),
        result: func.result.as_ref().map(|t| ty(resolve, t)),
    }
}

fn ty(resolve: &Resolve, t: &Type) -> Ty {
    match t {
        Type::Bool => Ty::Bool,
        Type::U8 => Ty::U8,
        Type::U16 => Ty::U16,
        Type::U32 => Ty::U32,
        Type::U64 => Ty::U64,
        Type::S8 => Ty::S8,
        Type::S16 => Ty::S16,
        Type::S32 => Ty::S32,
        Type::S64 => Ty::S64,
        Type::F32 => Ty::F32,
        Type::F64 => Ty::F64,
        Type::Char => Ty::Char,
        Type::String => Ty::String,
        Type::ErrorContext => Ty::Unsupported("error-context".into()),
        Type::Id(id) => typedef(resolve, *id),
    }
}

fn typedef(resolve: &Resolve, id: TypeId) -> Ty {
    if is_runtime_type(resolve, id, "types", "object-ref") {
        return Ty::ObjectRef;
    }
    if is_runtime_type(resolve, id, "actors", "actor") {
        return Ty::Actor;
    }
    let list = |types: &[Type]| types.iter().map(|t| ty(resolve, t)).collect();
    match &resolve.types[id].kind {
        TypeDefKind::Record(r) => Ty::Record(
            r.fields
                .iter()
                .map(|f| (f.name.clone(), ty(resolve, &f.ty)))
                .collect(),
        ),
        TypeDefKind::Tuple(t) => Ty::Tuple(list(&t.types)),
        TypeDefKind::Flags(f) => Ty::Flags(f.flags.iter().map(|f| f.name.clone()).collect()),
        TypeDefKind::Variant(v) => Ty::Variant(
            v.cases
                .iter()
                .map(|c| (c.name.clone(), c.ty.as_ref().map(|t| ty(resolve, t))))
                .collect(),
        ),
        TypeDefKind::Enum(e) => Ty::Enum(e.cases.iter().map(|c| c.name.clone()).collect()),
        TypeDefKind::Option(t) => Ty::Option(Box::new(ty(resolve, t))),
        TypeDefKind::Result(r) => Ty::Result {
            ok: r.ok.as_ref().map(|t| Box::new(ty(resolve, t))),
            err: r.err.as_ref().map(|t| Box::new(ty(resolve, t))),
        },
        TypeDefKind::List(t) => Ty::List(Box::new(ty(resolve, t))),
        TypeDefKind::Type(t) => ty(resolve, t),
        TypeDefKind::Resource | TypeDefKind::Handle(_) => Ty::Unsupported("resource handle".into()),
        TypeDefKind::Map(..) => Ty::Unsupported("map".into()),
        TypeDefKind::FixedLengthList(..) => Ty::Unsupported("fixed-length list".into()),
        TypeDefKind::Future(_) => Ty::Unsupported("future".into()),
        TypeDefKind::Stream(_) => Ty::Unsupported("stream".into()),
        TypeDefKind::Unknown => Ty::Unsupported("unknown type".into()),
    }
}

/// Whether `id` is (an alias of) the type `name` defined by the interface
/// `weft:runtime/<interface>`.
fn is_runtime_type(resolve: &Resolve, mut id: TypeId, interface: &str, name: &str) -> bool {
    loop {
        let def = &resolve.types[id];
        if def.name.as_deref() == Some(name)
            && let TypeOwner::Interface(owner) = def.owner
        {
            let iface = &resolve.interfaces[owner];
            let in_runtime = iface.package.is_some_and(|p| {
                let package = &resolve.packages[p].name;
                package.namespace == "weft" && package.name == "runtime"
            });
            if in_runtime && iface.name.as_deref() == Some(interface) {
                return true;
            }
        }
        match def.kind {
            TypeDefKind::Type(Type::Id(next)) => id = next,
            _ => return false,
        }
    }
}
