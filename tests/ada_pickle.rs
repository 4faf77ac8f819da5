//! NVIDIA stylegan2-ada-pytorch network pickles. No published pickle can ship with the tests
//! (and none with random weights exists), so this test writes one the way that code's
//! `pickle.dump` does: modules as `torch_utils.persistence` objects whose state holds
//! `_parameters` and `_modules`, tensors through `torch._utils._rebuild_tensor_v2`, storages by
//! value through `torch.storage._load_from_bytes` in torch's legacy format. The weights are
//! the parity fixture's generator under NVIDIA's names; the imported generator must reproduce
//! the fixture's images.

mod common;

use lifelapse::nets::import::{self, CheckpointKind};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

#[derive(Default)]
struct Pickle(Vec<u8>);

impl Pickle {
    fn op(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn proto(&mut self) -> &mut Self {
        self.op(&[0x80, 2])
    }
    fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.op(b"c");
        self.op(format!("{module}\n{name}\n").as_bytes())
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.op(b"X");
        self.op(&(s.len() as u32).to_le_bytes());
        self.op(s.as_bytes())
    }
    fn int(&mut self, i: i32) -> &mut Self {
        self.op(b"J");
        self.op(&i.to_le_bytes())
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.op(b"B");
        self.op(&(b.len() as u32).to_le_bytes());
        self.op(b)
    }
    fn ints(&mut self, v: &[i64]) -> &mut Self {
        self.op(b"(");
        for &i in v {
            self.int(i as i32);
        }
        self.op(b"t")
    }
}

/// `torch.save(storage, _use_new_zipfile_serialization=False)` of a float storage.
fn legacy_storage(values: &[f32]) -> Vec<u8> {
    let mut p = Pickle::default();
    // Magic number 0x1950a86a20f9469cfc6c as LONG1, protocol 1001, system info.
    p.proto()
        .op(&[
            0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
        ])
        .op(b".");
    p.proto().int(1001).op(b".");
    p.proto().op(b"}").op(b".");
    p.proto()
        .op(b"(")
        .str("storage")
        .global("torch", "FloatStorage")
        .str("0")
        .str("cpu");
    p.int(values.len() as i32)
        .op(b"N")
        .op(b"t")
        .op(b"Q")
        .op(b".");
    p.proto().op(b"(").str("0").op(b"l").op(b".");
    p.op(&(values.len() as u64).to_le_bytes());
    for v in values {
        p.op(&v.to_le_bytes());
    }
    p.0
}

fn tensor(p: &mut Pickle, t: &Tensor) {
    let t = t.to_kind(Kind::Float).contiguous();
    let values: Vec<f32> = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
    let size = t.size();
    let mut stride = vec![1i64; size.len()];
    for i in (0..size.len().saturating_sub(1)).rev() {
        stride[i] = stride[i + 1] * size[i + 1];
    }
    p.global("torch._utils", "_rebuild_parameter").op(b"(");
    p.global("torch._utils", "_rebuild_tensor_v2").op(b"(");
    p.global("torch.storage", "_load_from_bytes")
        .op(b"(")
        .bytes(&legacy_storage(&values))
        .op(b"t")
        .op(b"R");
    p.int(0).ints(&size).ints(&stride).op(&[0x89]);
    p.global("collections", "OrderedDict").op(b")").op(b"R");
    p.op(b"t").op(b"R");
    p.op(&[0x88])
        .global("collections", "OrderedDict")
        .op(b")")
        .op(b"R")
        .op(b"t")
        .op(b"R");
}

/// A module tree: parameters here, submodules by name.
#[derive(Default)]
struct Module {
    params: BTreeMap<String, Tensor>,
    children: BTreeMap<String, Module>,
}

fn module(p: &mut Pickle, m: &Module) {
    p.global("torch_utils.persistence", "_reconstruct_persistent_obj")
        .op(b"(");
    p.op(b"}")
        .op(b"(")
        .str("type")
        .str("class")
        .str("class_name")
        .str("Module");
    p.str("module_src").str("# source text, never run");
    p.str("state").op(b"}").op(b"(");
    p.str("_parameters")
        .global("collections", "OrderedDict")
        .op(b")")
        .op(b"R")
        .op(b"(");
    for (name, t) in &m.params {
        p.str(name);
        tensor(p, t);
    }
    p.op(b"u");
    p.str("_modules")
        .global("collections", "OrderedDict")
        .op(b")")
        .op(b"R")
        .op(b"(");
    for (name, child) in &m.children {
        p.str(name);
        module(p, child);
    }
    p.op(b"u")
        .str("training")
        .op(&[0x89])
        .op(b"u")
        .op(b"u")
        .op(b"t")
        .op(b"R");
}

fn insert(root: &mut Module, name: &str, t: Tensor) {
    let parts: Vec<&str> = name.split('.').collect();
    let mut m = root;
    for part in &parts[..parts.len() - 1] {
        m = m.children.entry(part.to_string()).or_default();
    }
    m.params.insert(parts[parts.len() - 1].to_string(), t);
}

#[test]
fn an_ada_network_pickle_imports_and_reproduces_the_reference() {
    let fixture: BTreeMap<String, Tensor> =
        Tensor::read_safetensors(common::fixtures().join("g_small.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let w = |n: &str| fixture[&format!("g_ema.{n}")].shallow_clone();
    let mut g = Module::default();
    for i in 0..2 {
        insert(
            &mut g,
            &format!("mapping.fc{i}.weight"),
            w(&format!("style.{}.weight", i + 1)),
        );
        insert(
            &mut g,
            &format!("mapping.fc{i}.bias"),
            w(&format!("style.{}.bias", i + 1)),
        );
    }
    insert(
        &mut g,
        "mapping.w_avg",
        fixture["latent_avg"].shallow_clone(),
    );
    insert(
        &mut g,
        "synthesis.b4.const",
        w("input.input").squeeze_dim(0),
    );
    let layer = |g: &mut Module, dst: &str, src: &str, noise: usize| {
        insert(
            g,
            &format!("{dst}.weight"),
            w(&format!("{src}.conv.weight")).squeeze_dim(0),
        );
        insert(
            g,
            &format!("{dst}.affine.weight"),
            w(&format!("{src}.conv.modulation.weight")),
        );
        insert(
            g,
            &format!("{dst}.affine.bias"),
            w(&format!("{src}.conv.modulation.bias")),
        );
        insert(
            g,
            &format!("{dst}.noise_strength"),
            w(&format!("{src}.noise.weight")).reshape([] as [i64; 0]),
        );
        insert(
            g,
            &format!("{dst}.bias"),
            w(&format!("{src}.activate.bias")),
        );
        insert(
            g,
            &format!("{dst}.noise_const"),
            w(&format!("noises.noise_{noise}"))
                .reshape([-1, w(&format!("noises.noise_{noise}")).size()[3]]),
        );
    };
    let torgb = |g: &mut Module, dst: &str, src: &str| {
        insert(
            g,
            &format!("{dst}.weight"),
            w(&format!("{src}.conv.weight")).squeeze_dim(0),
        );
        insert(
            g,
            &format!("{dst}.affine.weight"),
            w(&format!("{src}.conv.modulation.weight")),
        );
        insert(
            g,
            &format!("{dst}.affine.bias"),
            w(&format!("{src}.conv.modulation.bias")),
        );
        insert(
            g,
            &format!("{dst}.bias"),
            w(&format!("{src}.bias")).reshape([3]),
        );
    };
    layer(&mut g, "synthesis.b4.conv1", "conv1", 0);
    torgb(&mut g, "synthesis.b4.torgb", "to_rgb1");
    for k in 0..4 {
        let block = format!("synthesis.b{}", 8 << k);
        layer(
            &mut g,
            &format!("{block}.conv0"),
            &format!("convs.{}", 2 * k),
            2 * k + 1,
        );
        layer(
            &mut g,
            &format!("{block}.conv1"),
            &format!("convs.{}", 2 * k + 1),
            2 * k + 2,
        );
        torgb(&mut g, &format!("{block}.torgb"), &format!("to_rgbs.{k}"));
    }
    let mut p = Pickle::default();
    p.proto().op(b"}").op(b"(").str("G_ema");
    module(&mut p, &g);
    p.str("training_set_kwargs").op(b"}").op(b"u").op(b".");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("network-snapshot.pkl");
    std::fs::write(&path, &p.0).unwrap();
    let ckpt = import::open(&path, None).expect("import the pickle");
    assert_eq!(ckpt.kind, CheckpointKind::Stylegan2);
    assert_eq!(ckpt.resolution(), 64);
    let generator = ckpt.build_generator(Device::Cpu, Kind::Float).unwrap();
    let io: BTreeMap<String, Tensor> =
        Tensor::read_safetensors(common::fixtures().join("stylegan2_small_io.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let image = tch::no_grad(|| generator.synthesis(&io["wplus"]));
    let diff = (image - &io["img_wplus"]).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "{diff}");
    assert!(ckpt.latent_avg.unwrap().equal(&fixture["latent_avg"]));

    // The same pickle cut short is refused, not half-read.
    std::fs::write(&path, &p.0[..p.0.len() / 2]).unwrap();
    assert!(import::open(&path, None).is_err());
}
