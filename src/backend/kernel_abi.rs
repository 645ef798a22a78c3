//! The launch ABI of every kernel in `kernels/*.cu`, declared once.
//!
//! A kernel's argument list used to be written by hand in the `.cu` file, in the launch wrapper's
//! `.arg()` chain, in the host emulation's FFI type and in kernels/README.md, so a swapped or
//! mistyped argument showed only on a GPU. Here each entry point is declared once; the
//! `kernels!` macro turns that declaration into
//! - [`SIGNATURES`] and [`KernelId`]: the table the backend resolves its function handles from
//!   and the ABI tests compare against the `.param` lists of the PTX that NVRTC produces
//!   ([`check_ptx`]), and against the C prototypes the emulation compiles ([`emu_cpp_wrappers`]);
//! - `emu::<kernel>`: the FFI type of the host-emulated launcher `emu_<kernel>(grid, block,
//!   shared_bytes, args...)` of `tests/ops/emu/`;
//! - `launch::<kernel>` (feature `cuda`): a typed launcher taking device buffers and scalars in
//!   declaration order, so the argument list cannot drift from the table.
//!
//! Not behind the `cuda` feature: the table, the emulation types and the PTX checker are plain
//! Rust, used by CPU-only tests.

use std::fmt::Write as _;
use std::marker::PhantomData;

/// A `bf16` dictionary element as the kernels see it (`__nv_bfloat16`, raw bits).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bf16Bits(pub u16);

/// An `f16` dictionary element as the kernels see it (`__half`, raw bits).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct F16Bits(pub u16);

/// Marks a pointer parameter the kernel accepts as null (an optional operand).
pub struct Nullable<P>(PhantomData<P>);

/// CUDA's `dim3`, as the host emulation's launchers take it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dim3 {
    pub x: u32,
    pub y: u32,
    pub z: u32,
}

impl Dim3 {
    pub const fn x(x: u32) -> Self {
        Dim3 { x, y: 1, z: 1 }
    }
    pub const fn xy(x: u32, y: u32) -> Self {
        Dim3 { x, y, z: 1 }
    }
}

/// What a pointer parameter points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    F32,
    U32,
    Bf16,
    F16,
}

/// How one kernel parameter is passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A device pointer (8 bytes); `mutable` for an output, `nullable` for an optional operand.
    Ptr {
        elem: Elem,
        mutable: bool,
        nullable: bool,
    },
    /// A C `int` (4 bytes).
    I32,
    /// A C `float` (4 bytes).
    F32,
}

impl ParamKind {
    /// The C type of the kernel's parameter.
    pub fn c_type(self) -> &'static str {
        match self {
            ParamKind::Ptr { elem, mutable, .. } => match (elem, mutable) {
                (Elem::F32, true) => "float*",
                (Elem::F32, false) => "const float*",
                (Elem::U32, true) => "unsigned*",
                (Elem::U32, false) => "const unsigned*",
                (Elem::Bf16, true) => "__nv_bfloat16*",
                (Elem::Bf16, false) => "const __nv_bfloat16*",
                (Elem::F16, true) => "__half*",
                (Elem::F16, false) => "const __half*",
            },
            ParamKind::I32 => "int",
            ParamKind::F32 => "float",
        }
    }

    /// The PTX types NVRTC may give such a parameter (`int` appears as `.u32` or `.s32`).
    pub fn ptx_types(self) -> &'static [&'static str] {
        match self {
            ParamKind::Ptr { .. } => &[".u64"],
            ParamKind::I32 => &[".u32", ".s32", ".b32"],
            ParamKind::F32 => &[".f32", ".b32"],
        }
    }

    pub fn is_pointer(self) -> bool {
        matches!(self, ParamKind::Ptr { .. })
    }
}

/// Maps a Rust declaration type to its ABI kind and its FFI type in the emulation.
pub trait AbiParam {
    const KIND: ParamKind;
    /// The type the emulated launcher takes for this parameter.
    type Ffi;
}

macro_rules! abi_ptr {
    ($t:ty, $elem:ident, $mutable:expr, $ffi:ty) => {
        impl AbiParam for $t {
            const KIND: ParamKind = ParamKind::Ptr {
                elem: Elem::$elem,
                mutable: $mutable,
                nullable: false,
            };
            type Ffi = $ffi;
        }
        impl AbiParam for Nullable<$t> {
            const KIND: ParamKind = ParamKind::Ptr {
                elem: Elem::$elem,
                mutable: $mutable,
                nullable: true,
            };
            type Ffi = $ffi;
        }
    };
}
abi_ptr!(*mut f32, F32, true, *mut f32);
abi_ptr!(*const f32, F32, false, *const f32);
abi_ptr!(*const u32, U32, false, *const u32);
abi_ptr!(*const Bf16Bits, Bf16, false, *const Bf16Bits);
abi_ptr!(*const F16Bits, F16, false, *const F16Bits);

impl AbiParam for i32 {
    const KIND: ParamKind = ParamKind::I32;
    type Ffi = i32;
}
impl AbiParam for f32 {
    const KIND: ParamKind = ParamKind::F32;
    type Ffi = f32;
}

/// One parameter of an entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
}

/// One `extern "C"` entry point of `kernels/<family>.cu`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSig {
    pub family: &'static str,
    pub name: &'static str,
    pub params: &'static [Param],
}

impl KernelSig {
    /// The C prototype, e.g. `fill_f32(float* y, float v, int n)`.
    pub fn c_prototype(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{} {}", p.kind.c_type(), p.name))
            .collect();
        format!("{}({})", self.name, params.join(", "))
    }
}

/// Declares the entry points; see the module documentation for what it generates.
macro_rules! kernels {
    ($( $family:literal { $( fn $name:ident ( $( $p:ident : $t:ty ),* $(,)? ); )* } )*) => {
        /// Every entry point, in [`KernelId`] order.
        pub const SIGNATURES: &[KernelSig] = &[$($(
            KernelSig {
                family: $family,
                name: stringify!($name),
                params: &[$( Param { name: stringify!($p), kind: <$t as AbiParam>::KIND } ),*],
            },
        )*)*];

        /// A typed handle to one entry point: its index in [`SIGNATURES`].
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum KernelId { $($( $name, )*)* }

        impl KernelId {
            /// Its declaration.
            pub fn sig(self) -> &'static KernelSig {
                &SIGNATURES[self as usize]
            }
        }

        /// The FFI types of the host-emulated launchers `emu_<kernel>` (tests/ops/emu/): the grid, the
        /// block and the dynamic shared bytes, then the kernel's own arguments.
        pub mod emu {
            #[allow(unused_imports)]
            use super::*;
            $($(
                #[allow(non_camel_case_types)]
                pub type $name = unsafe extern "C" fn(Dim3, Dim3, u32 $(, <$t as AbiParam>::Ffi)*);
            )*)*
        }

        /// Typed launchers: one per entry point, arguments in declaration order.
        #[cfg(feature = "cuda")]
        pub mod launch {
            #[allow(unused_imports)]
            use super::*;
            use super::device::DevParam;
            use crate::backend::cuda::CudaBackend;
            use cudarc::driver::LaunchConfig;
            $($(
                /// Queues the kernel of the same name on the backend's stream.
                ///
                /// # Safety
                /// Every buffer holds what the kernel reads or writes for the given sizes, every
                /// index is in range, and `cfg` has the launch shape the kernel assumes
                /// (kernels/README.md).
                #[allow(clippy::too_many_arguments)]
                pub unsafe fn $name(
                    be: &CudaBackend,
                    cfg: LaunchConfig
                    $(, mut $p: <$t as DevParam>::Arg<'_>)*
                ) -> crate::error::Result<()> {
                    be.note_launch();
                    let f = be.kernel(KernelId::$name);
                    let mut l = be.stream().launch_builder(f);
                    $( <$t as DevParam>::push(&mut l, &mut $p); )*
                    // SAFETY: the caller's contract above.
                    unsafe { l.launch(cfg) }
                        .map(|_| ())
                        .map_err(|e| crate::error::Error::Cuda(
                            format!("launching {}: {e}", stringify!($name))))
                }
            )*)*
        }
    };
}

kernels! {
    "elementwise" {
        fn fill_f32(y: *mut f32, v: f32, n: i32);
        fn axpy_f32(y: *mut f32, x: *const f32, alpha: f32, n: i32);
        fn scale_f32(y: *mut f32, x: *const f32, alpha: f32, n: i32);
        fn copy_cols_f32(dst: *mut f32, dst_cols: i32, dst_col0: i32, src: *const f32,
                         src_cols: i32, src_col0: i32, width: i32, rows: i32);
        fn gather_rows_f32(out: *mut f32, x: *const f32, idx: *const u32, n: i32, cols: i32);
        fn onehot_f32(out: *mut f32, labels: *const u32, n: i32, classes: i32);
        fn sum_scaled_f32(out: *mut f32, x: *const f32, n: i32, scale: f32);
    }
    "layers" {
        fn bias_act_fwd_f32(y: *mut f32, x: *const f32, bias: Nullable<*const f32>, rows: i32,
                            cols: i32, act: i32, alpha: f32);
        fn act_bwd_f32(dx: *mut f32, y: *const f32, dy: *const f32, n: i32, act: i32, alpha: f32);
        fn col_sum_f32(out: *mut f32, x: *const f32, rows: i32, cols: i32);
        fn bn_fwd_train_f32(y: *mut f32, xhat: *mut f32, inv_std: *mut f32,
                            running_mean: *mut f32, running_var: *mut f32, x: *const f32,
                            gamma: *const f32, beta: *const f32, rows: i32, cols: i32,
                            momentum: f32, eps: f32);
        fn bn_fwd_infer_f32(y: *mut f32, x: *const f32, gamma: *const f32, beta: *const f32,
                            running_mean: *const f32, running_var: *const f32, rows: i32,
                            cols: i32, eps: f32);
        fn bn_bwd_f32(dx: *mut f32, dgamma: *mut f32, dbeta: *mut f32, dy: *const f32,
                      xhat: *const f32, inv_std: *const f32, gamma: *const f32, rows: i32,
                      cols: i32);
    }
    "losses" {
        fn softmax_rows_f32(y: *mut f32, x: *const f32, rows: i32, cols: i32);
        fn class_loss_f32(loss_rows: *mut f32, dlogits: *mut f32, logits: *const f32,
                          labels: *const u32, margins: Nullable<*const f32>, rows: i32,
                          cols: i32, kind: i32, gamma: f32, s: f32);
        fn bce_logits_f32(loss_rows: *mut f32, grad: *mut f32, logits: *const f32,
                          targets: *const f32, rows: i32, cols: i32);
    }
    "lsgan" {
        fn lsgan_d_f32(loss_rows: *mut f32, grad: *mut f32, d_out: *const f32, target: f32,
                       n: i32);
        fn lsgan_g_f32(loss_rows: *mut f32, d_q_logits: *mut f32, d_d_out: *mut f32,
                       q_logits: *const f32, d_out: *const f32, labels: *const u32, rows: i32,
                       classes: i32, majority: i32, lambda: f32);
    }
    "convex" {
        fn convex_combine_fwd_f32(f_t: *mut f32, f_s: *mut f32, w: *mut f32, logits: *const f32,
                                  dict_t: *const f32, dict_s: *const f32, rows: *const u32,
                                  batch: i32, ns: i32, d_t: i32, d_s: i32);
        fn convex_combine_bwd_f32(d_logits: *mut f32, w: *const f32, d_f_t: *const f32,
                                  d_f_s: *const f32, dict_t: *const f32, dict_s: *const f32,
                                  rows: *const u32, batch: i32, ns: i32, d_t: i32, d_s: i32);
        fn dict_gather_f32(out: *mut f32, dict: *const f32, rows: *const u32, n: i32, cols: i32);
        fn convex_combine_fwd_bf16(f_t: *mut f32, f_s: *mut f32, w: *mut f32, logits: *const f32,
                                   dict_t: *const Bf16Bits, dict_s: *const Bf16Bits,
                                   rows: *const u32, batch: i32, ns: i32, d_t: i32, d_s: i32);
        fn convex_combine_bwd_bf16(d_logits: *mut f32, w: *const f32, d_f_t: *const f32,
                                   d_f_s: *const f32, dict_t: *const Bf16Bits,
                                   dict_s: *const Bf16Bits, rows: *const u32, batch: i32,
                                   ns: i32, d_t: i32, d_s: i32);
        fn dict_gather_bf16(out: *mut f32, dict: *const Bf16Bits, rows: *const u32, n: i32,
                            cols: i32);
        fn convex_combine_fwd_f16(f_t: *mut f32, f_s: *mut f32, w: *mut f32, logits: *const f32,
                                  dict_t: *const F16Bits, dict_s: *const F16Bits,
                                  rows: *const u32, batch: i32, ns: i32, d_t: i32, d_s: i32);
        fn convex_combine_bwd_f16(d_logits: *mut f32, w: *const f32, d_f_t: *const f32,
                                  d_f_s: *const f32, dict_t: *const F16Bits,
                                  dict_s: *const F16Bits, rows: *const u32, batch: i32, ns: i32,
                                  d_t: i32, d_s: i32);
        fn dict_gather_f16(out: *mut f32, dict: *const F16Bits, rows: *const u32, n: i32,
                           cols: i32);
    }
    // Version 2 (several blocks per sample, 16-byte loads): same arguments as version 1.
    "convex" {
        fn convex_combine_fwd_v2_f32(f_t: *mut f32, f_s: *mut f32, w: *mut f32,
                                     logits: *const f32, dict_t: *const f32, dict_s: *const f32,
                                     rows: *const u32, batch: i32, ns: i32, d_t: i32, d_s: i32);
        fn convex_combine_bwd_v2_f32(d_logits: *mut f32, w: *const f32, d_f_t: *const f32,
                                     d_f_s: *const f32, dict_t: *const f32, dict_s: *const f32,
                                     rows: *const u32, batch: i32, ns: i32, d_t: i32, d_s: i32);
        fn convex_combine_fwd_v2_bf16(f_t: *mut f32, f_s: *mut f32, w: *mut f32,
                                      logits: *const f32, dict_t: *const Bf16Bits,
                                      dict_s: *const Bf16Bits, rows: *const u32, batch: i32,
                                      ns: i32, d_t: i32, d_s: i32);
        fn convex_combine_bwd_v2_bf16(d_logits: *mut f32, w: *const f32, d_f_t: *const f32,
                                      d_f_s: *const f32, dict_t: *const Bf16Bits,
                                      dict_s: *const Bf16Bits, rows: *const u32, batch: i32,
                                      ns: i32, d_t: i32, d_s: i32);
        fn convex_combine_fwd_v2_f16(f_t: *mut f32, f_s: *mut f32, w: *mut f32,
                                     logits: *const f32, dict_t: *const F16Bits,
                                     dict_s: *const F16Bits, rows: *const u32, batch: i32,
                                     ns: i32, d_t: i32, d_s: i32);
        fn convex_combine_bwd_v2_f16(d_logits: *mut f32, w: *const f32, d_f_t: *const f32,
                                     d_f_s: *const f32, dict_t: *const F16Bits,
                                     dict_s: *const F16Bits, rows: *const u32, batch: i32,
                                     ns: i32, d_t: i32, d_s: i32);
    }
    "heatmap" {
        fn heatmap_targets_f32(out: *mut f32, coords: *const f32, vis: *const f32, batch: i32,
                               k: i32, grid: i32, sigma: f32);
        fn heatmap_loss_f32(loss_rows: *mut f32, grad: *mut f32, pred: *const f32,
                            target: *const f32, vis: *const f32, batch: i32, k: i32, grid2: i32);
    }
    "adam" {
        fn adam_step_f32(p: *mut f32, g: *const f32, m: *mut f32, v: *mut f32, n: i32, lr: f32,
                         beta1: f32, beta2: f32, eps: f32, c1: f32, c2: f32);
    }
}

/// The entry points of one family, in declaration order.
pub fn family(family: &str) -> impl Iterator<Item = &'static KernelSig> + '_ {
    SIGNATURES.iter().filter(move |s| s.family == family)
}

/// The declaration of entry point `name`.
pub fn find(name: &str) -> Option<&'static KernelSig> {
    SIGNATURES.iter().find(|s| s.name == name)
}

/// C++ for the host emulation of `family`: a prototype of each entry point (compiled in the same
/// translation unit as the kernel's definition, so a prototype that disagrees with the `.cu` file
/// is a compile error) and its launcher `emu_<name>(grid, block, shared_bytes, args...)` through
/// the `EMU_KERNEL` macro of tests/emu/launch.cpp.
pub fn emu_cpp_wrappers(family: &str) -> String {
    let mut out = String::new();
    for sig in self::family(family) {
        let params: Vec<String> = sig
            .params
            .iter()
            .map(|p| format!("{} {}", p.kind.c_type(), p.name))
            .collect();
        let args: Vec<&str> = sig.params.iter().map(|p| p.name).collect();
        writeln!(
            out,
            "EMU_KERNEL({}, ({}), ({}))",
            sig.name,
            params.join(", "),
            args.join(", ")
        )
        .unwrap();
    }
    out
}

/// One `.param` of a PTX `.entry`: its type (`.u64`, `.u32`, `.f32`, ...) and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtxParam {
    pub ty: String,
    pub name: String,
}

/// The `.entry` points of a PTX module with their parameter lists, in file order.
pub fn ptx_entries(ptx: &str) -> Vec<(String, Vec<PtxParam>)> {
    let mut out = Vec::new();
    let mut lines = ptx.lines();
    while let Some(line) = lines.next() {
        let t = line.trim();
        let Some(rest) = t
            .strip_prefix(".visible .entry ")
            .or_else(|| t.strip_prefix(".entry "))
        else {
            continue;
        };
        let name = rest.split(['(', ' ']).next().unwrap_or("").to_string();
        let mut params = Vec::new();
        // The list runs from `(` to `)`; an entry with no parameters closes on its own line.
        let mut text = rest.split_once('(').map(|(_, r)| r.to_string());
        while let Some(chunk) = text.take() {
            let (body, closed) = match chunk.find(')') {
                Some(i) => (chunk[..i].to_string(), true),
                None => (chunk, false),
            };
            for decl in body.split(',') {
                let words: Vec<&str> = decl.split_whitespace().collect();
                if words.first() != Some(&".param") {
                    continue;
                }
                // `.param .u64 .ptr .global .align 4 name`: the type is the first word after
                // `.param`, the name the last.
                if let (Some(ty), Some(pname)) = (words.get(1), words.last()) {
                    params.push(PtxParam {
                        ty: ty.to_string(),
                        name: pname.to_string(),
                    });
                }
            }
            if !closed {
                text = lines.next().map(str::to_string);
            }
        }
        out.push((name, params));
    }
    out
}

/// Compares one declaration with the parameters NVRTC gave its entry point: count, order, width
/// and pointer vs scalar. Returns what disagrees, one line each.
pub fn check_entry(sig: &KernelSig, ptx: &[PtxParam]) -> Vec<String> {
    let mut problems = Vec::new();
    if sig.params.len() != ptx.len() {
        problems.push(format!(
            "{}: declared with {} parameters, the PTX entry has {}",
            sig.name,
            sig.params.len(),
            ptx.len()
        ));
    }
    for (i, (p, q)) in sig.params.iter().zip(ptx).enumerate() {
        if !p.kind.ptx_types().contains(&q.ty.as_str()) {
            problems.push(format!(
                "{}: parameter {i} `{}` is declared {} ({}), the PTX has {} ({})",
                sig.name,
                p.name,
                p.kind.c_type(),
                p.kind.ptx_types().join(" or "),
                q.ty,
                q.name
            ));
        }
    }
    problems
}

/// Checks a family's PTX against its declarations: every declared entry point is there with the
/// declared parameters, and the PTX has no entry point that is not declared. Returns the
/// disagreements, one line each (empty when the ABI holds).
pub fn check_ptx(family: &str, ptx: &str) -> Vec<String> {
    let entries = ptx_entries(ptx);
    let mut problems = Vec::new();
    for sig in self::family(family) {
        match entries.iter().find(|(n, _)| n == sig.name) {
            Some((_, params)) => problems.extend(check_entry(sig, params)),
            None => problems.push(format!(
                "{}: declared for kernels/{family}.cu but not in its PTX",
                sig.name
            )),
        }
    }
    for (name, _) in &entries {
        if !SIGNATURES
            .iter()
            .any(|s| s.family == family && s.name == name)
        {
            problems.push(format!(
                "{name}: an entry point of kernels/{family}.cu that src/backend/kernel_abi.rs does \
                 not declare"
            ));
        }
    }
    problems
}

/// How each declaration type is pushed to a launch (feature `cuda`).
#[cfg(feature = "cuda")]
pub mod device {
    use super::{Bf16Bits, F16Bits, Nullable};
    use cudarc::driver::{CudaSlice, LaunchArgs, PushKernelArg};

    /// What the typed launcher takes for a parameter declared with this type, and how it goes
    /// into the launch.
    pub trait DevParam {
        type Arg<'x>;
        fn push<'a, 'b: 'a>(l: &mut LaunchArgs<'a>, arg: &'b mut Self::Arg<'_>);
    }

    /// The null pointer passed for an absent optional operand.
    static NULL: u64 = 0;

    macro_rules! dev_ptr {
        ($t:ty, $elem:ty) => {
            impl DevParam for $t {
                type Arg<'x> = &'x CudaSlice<$elem>;
                fn push<'a, 'b: 'a>(l: &mut LaunchArgs<'a>, arg: &'b mut Self::Arg<'_>) {
                    l.arg(&**arg);
                }
            }
            impl DevParam for Nullable<$t> {
                type Arg<'x> = Option<&'x CudaSlice<$elem>>;
                fn push<'a, 'b: 'a>(l: &mut LaunchArgs<'a>, arg: &'b mut Self::Arg<'_>) {
                    match arg {
                        Some(s) => l.arg(&**s),
                        None => l.arg(&NULL),
                    };
                }
            }
        };
    }
    dev_ptr!(*const f32, f32);
    dev_ptr!(*const u32, u32);
    dev_ptr!(*const Bf16Bits, u16);
    dev_ptr!(*const F16Bits, u16);

    impl DevParam for *mut f32 {
        type Arg<'x> = &'x mut CudaSlice<f32>;
        fn push<'a, 'b: 'a>(l: &mut LaunchArgs<'a>, arg: &'b mut Self::Arg<'_>) {
            l.arg(&mut **arg);
        }
    }
    impl DevParam for Nullable<*mut f32> {
        type Arg<'x> = Option<&'x mut CudaSlice<f32>>;
        fn push<'a, 'b: 'a>(l: &mut LaunchArgs<'a>, arg: &'b mut Self::Arg<'_>) {
            match arg {
                Some(s) => l.arg(&mut **s),
                None => l.arg(&NULL),
            };
        }
    }
    impl DevParam for i32 {
        type Arg<'x> = i32;
        fn push<'a, 'b: 'a>(l: &mut LaunchArgs<'a>, arg: &'b mut Self::Arg<'_>) {
            l.arg(&*arg);
        }
    }
    impl DevParam for f32 {
        type Arg<'x> = f32;
        fn push<'a, 'b: 'a>(l: &mut LaunchArgs<'a>, arg: &'b mut Self::Arg<'_>) {
            l.arg(&*arg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_ids_index_their_signatures() {
        assert_eq!(KernelId::fill_f32.sig().name, "fill_f32");
        assert_eq!(KernelId::adam_step_f32.sig().name, "adam_step_f32");
        assert_eq!(KernelId::dict_gather_f16.sig().family, "convex");
        let mut names: Vec<&str> = SIGNATURES.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SIGNATURES.len(), "entry names are unique");
    }

    /// NVRTC's two spellings of a parameter list: plain, and with `.ptr` attributes.
    const PTX: &str = "
.version 8.8
.target sm_90
.address_size 64
.visible .entry axpy_f32(
	.param .u64 .ptr .align 1 axpy_f32_param_0,
	.param .u64 .ptr .align 1 axpy_f32_param_1,
	.param .f32 axpy_f32_param_2,
	.param .u32 axpy_f32_param_3
)
{
	ret;
}
.visible .entry fill_f32(
	.param .u64 fill_f32_param_0,
	.param .f32 fill_f32_param_1,
	.param .u32 fill_f32_param_2
)
{
	ret;
}
";

    #[test]
    fn abi_parser_reads_both_param_spellings() {
        let e = ptx_entries(PTX);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0, "axpy_f32");
        let types: Vec<&str> = e[0].1.iter().map(|p| p.ty.as_str()).collect();
        assert_eq!(types, [".u64", ".u64", ".f32", ".u32"]);
        assert_eq!(e[0].1[3].name, "axpy_f32_param_3");
        assert_eq!(e[1].1.len(), 3);
    }

    #[test]
    fn abi_check_passes_the_declaration_and_fails_a_swapped_argument() {
        let e = ptx_entries(PTX);
        let axpy = find("axpy_f32").unwrap();
        assert!(check_entry(axpy, &e[0].1).is_empty());
        let fill = find("fill_f32").unwrap();
        assert!(check_entry(fill, &e[1].1).is_empty());

        // x (pointer) and alpha (float) swapped in the declaration.
        let mut params = axpy.params.to_vec();
        params.swap(1, 2);
        let swapped = KernelSig {
            params: Box::leak(params.into_boxed_slice()),
            ..*axpy
        };
        let problems = check_entry(&swapped, &e[0].1);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("`alpha`") && problems[0].contains(".u64"),
            "{problems:?}"
        );

        // The family check also reports an entry point the table lacks, and one the PTX lacks.
        let problems = check_ptx("elementwise", PTX);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("scale_f32: declared")),
            "{problems:?}"
        );
        let extra = PTX.replace("fill_f32", "fill2_f32");
        let problems = check_ptx("elementwise", &extra);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("fill2_f32: an entry point")),
            "{problems:?}"
        );
    }

    #[test]
    fn abi_emulation_wrappers_spell_the_c_types() {
        let cpp = emu_cpp_wrappers("convex");
        assert!(
            cpp.contains(
                "EMU_KERNEL(dict_gather_bf16, (float* out, const __nv_bfloat16* dict, \
             const unsigned* rows, int n, int cols), (out, dict, rows, n, cols))"
            ),
            "{cpp}"
        );
        assert_eq!(cpp.lines().count(), family("convex").count());
        assert_eq!(
            find("bias_act_fwd_f32").unwrap().c_prototype(),
            "bias_act_fwd_f32(float* y, const float* x, const float* bias, int rows, int cols, \
             int act, float alpha)"
        );
    }
}
