//! Reads PyTorch checkpoints (`torch.save`'s zip archive: a pickle plus one file per storage)
//! without executing anything. Pickle is a program for a stack machine; this module interprets
//! the data-building opcodes only. A class reference (GLOBAL) never imports or calls anything:
//! the few tensor-rebuilding functions are recognised by name and everything else becomes an
//! inert [`Value::Object`] that records its class and arguments.
//!
//! Written here rather than taken from a crate: serde-pickle refuses persistent ids (how torch
//! refers to tensor storages) and cannot keep the arguments of unknown reductions, which is
//! exactly the information a checkpoint's tensors live in.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::rc::Rc;
use tch::{Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum PickleError {
    #[error("not a PyTorch checkpoint: {0}")]
    Format(String),
    #[error("the checkpoint's pickle is damaged at byte {offset}: {message}")]
    Damaged { offset: usize, message: String },
    #[error("the checkpoint uses pickle opcode 0x{opcode:02x}, which lifelapse does not read")]
    Opcode { opcode: u8 },
    #[error("the checkpoint's tensor data is damaged: {0}")]
    Data(String),
    #[error("not a PyTorch checkpoint (not a readable zip archive)")]
    Archive(#[source] zip::result::ZipError),
    #[error("the checkpoint's {0} cannot be read")]
    Read(String, #[source] std::io::Error),
    #[error("the checkpoint's tensor data does not fit its tensor")]
    Tensor(#[source] tch::TchError),
}

/// A storage (flat typed buffer) a tensor views.
#[derive(Debug, Clone)]
pub struct StorageRef {
    pub key: String,
    pub kind: Kind,
}

/// A tensor as the pickle describes it: a strided view of a storage.
#[derive(Debug, Clone)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: i64,
    pub size: Vec<i64>,
    pub stride: Vec<i64>,
}

/// An instance of a class the reader does not interpret.
#[derive(Debug)]
pub struct Object {
    pub class: String,
    pub args: Vec<Value>,
    pub state: Option<Value>,
}

/// A pickled value. Lists, dicts and objects are shared, as pickle's memo shares them.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Global(String),
    Object(Rc<RefCell<Object>>),
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Looks a key up in a dict (or in an object's state dict).
    pub fn get(&self, key: &str) -> Option<Value> {
        match self {
            Value::Dict(items) => items
                .borrow()
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v.clone()),
            Value::Object(obj) => obj.borrow().state.as_ref().and_then(|s| s.get(key)),
            _ => None,
        }
    }

    /// Plain data (no tensors, no objects) as JSON, for options stored in a checkpoint.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match self {
            Value::None => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Tuple(items) => J::Array(items.iter().filter_map(Value::to_json).collect()),
            Value::List(items) => {
                J::Array(items.borrow().iter().filter_map(Value::to_json).collect())
            }
            Value::Dict(items) => J::Object(
                items
                    .borrow()
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.to_json()?)))
                    .collect(),
            ),
            Value::Object(obj) => obj.borrow().state.as_ref()?.to_json()?,
            _ => return None,
        })
    }
}

fn storage_kind(class: &str) -> Option<Kind> {
    Some(match class.rsplit('.').next()? {
        "FloatStorage" => Kind::Float,
        "DoubleStorage" => Kind::Double,
        "HalfStorage" => Kind::Half,
        "BFloat16Storage" => Kind::BFloat16,
        "LongStorage" => Kind::Int64,
        "IntStorage" => Kind::Int,
        "ShortStorage" => Kind::Int16,
        "CharStorage" => Kind::Int8,
        "ByteStorage" => Kind::Uint8,
        "BoolStorage" => Kind::Bool,
        _ => return None,
    })
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

fn ints_of(v: &Value) -> Option<Vec<i64>> {
    match v {
        Value::Tuple(items) => items.iter().map(int_of).collect(),
        Value::List(items) => items.borrow().iter().map(int_of).collect(),
        _ => None,
    }
}

/// The pickle machine: a stack, mark positions and the memo.
struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    /// Storages pickled by value (`torch.storage._load_from_bytes`), by the key given them.
    inline_storages: HashMap<String, Vec<u8>>,
}

impl<'a> Machine<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            inline_storages: HashMap::new(),
        }
    }

    fn damaged(&self, message: impl Into<String>) -> PickleError {
        PickleError::Damaged {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| self.damaged("unexpected end"))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.bytes(1)?[0])
    }

    fn le(&mut self, n: usize) -> Result<u64, PickleError> {
        let b = self.bytes(n)?;
        Ok(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.damaged("unterminated line"))?;
        self.pos += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        self.stack
            .pop()
            .ok_or_else(|| self.damaged("stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let mark = self.marks.pop().ok_or_else(|| self.damaged("no mark"))?;
        if mark > self.stack.len() {
            return Err(self.damaged("mark beyond stack"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        let pos = self.pos;
        self.stack.last_mut().ok_or(PickleError::Damaged {
            offset: pos,
            message: "empty stack".into(),
        })
    }

    fn text(&mut self, n: usize) -> Result<String, PickleError> {
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.damaged("invalid UTF-8"))
    }

    fn memo_get(&self, key: u64) -> Result<Value, PickleError> {
        self.memo
            .get(&key)
            .cloned()
            .ok_or_else(|| self.damaged(format!("memo {key} missing")))
    }

    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let v = self
            .stack
            .last()
            .cloned()
            .ok_or_else(|| self.damaged("empty stack"))?;
        self.memo.insert(key, v);
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        match self.top()? {
            Value::List(list) => list.borrow_mut().extend(items),
            // Sets and other appendables are kept as lists of their items.
            Value::Object(obj) => obj.borrow_mut().args.extend(items),
            _ => return Err(self.damaged("append to a non-list")),
        }
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.damaged("odd number of dict items"));
        }
        let pairs: Vec<(Value, Value)> = items
            .chunks(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect();
        match self.top()? {
            Value::Dict(dict) => dict.borrow_mut().extend(pairs),
            Value::Object(obj) => {
                let mut obj = obj.borrow_mut();
                let state = obj.state.get_or_insert_with(|| Value::Dict(Rc::default()));
                if let Value::Dict(dict) = state {
                    dict.borrow_mut().extend(pairs);
                }
            }
            _ => return Err(self.damaged("setitem on a non-dict")),
        }
        Ok(())
    }

    /// Applies a callable to its arguments: tensor rebuilders are understood, anything else
    /// is recorded, never run.
    fn reduce(&mut self, callable: Value, args: Value) -> Result<Value, PickleError> {
        let args = match args {
            Value::Tuple(items) => items,
            other => vec![other],
        };
        let class = match callable {
            Value::Global(name) => name,
            _ => return Err(self.damaged("call of a non-class")),
        };
        Ok(match class.as_str() {
            "torch._utils._rebuild_tensor" | "torch._utils._rebuild_tensor_v2" => {
                let bad = || self.damaged("malformed tensor");
                let storage = match args.first() {
                    Some(Value::Storage(s)) => s.clone(),
                    _ => return Err(bad()),
                };
                Value::Tensor(TensorRef {
                    storage,
                    offset: args.get(1).and_then(int_of).ok_or_else(bad)?,
                    size: args.get(2).and_then(ints_of).ok_or_else(bad)?,
                    stride: args.get(3).and_then(ints_of).ok_or_else(bad)?,
                })
            }
            "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => {
                args.into_iter()
                    .next()
                    .ok_or_else(|| self.damaged("empty parameter"))?
            }
            "collections.OrderedDict" | "builtins.dict" => Value::Dict(Rc::default()),
            "torch.storage._load_from_bytes" => {
                let bytes = match args.first() {
                    Some(Value::Bytes(b)) => b,
                    _ => return Err(self.damaged("storage bytes expected")),
                };
                let (storage, data) = read_legacy_storage(bytes)?;
                let key = format!("inline{}", self.inline_storages.len());
                self.inline_storages.insert(key.clone(), data);
                Value::Storage(StorageRef {
                    key,
                    kind: storage.kind,
                })
            }
            _ => Value::Object(Rc::new(RefCell::new(Object {
                class,
                args,
                state: None,
            }))),
        })
    }

    fn persistent(&self, pid: Value) -> Result<Value, PickleError> {
        let items = match pid {
            Value::Tuple(items) => items,
            _ => return Err(self.damaged("persistent id is not a tuple")),
        };
        match (items.first(), items.get(1), items.get(2)) {
            (Some(Value::Str(tag)), Some(Value::Global(class)), Some(key)) if tag == "storage" => {
                let kind = storage_kind(class)
                    .ok_or_else(|| self.damaged(format!("unknown storage type {class}")))?;
                let key = match key {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    _ => return Err(self.damaged("storage key")),
                };
                Ok(Value::Storage(StorageRef { key, kind }))
            }
            _ => Err(self.damaged("unknown persistent id")),
        }
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?;
                } // PROTO
                0x95 => {
                    self.le(8)?;
                } // FRAME
                b'.' => return self.pop(), // STOP
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = self.le(4)? as u32 as i32 as i64;
                    self.stack.push(Value::Int(v));
                }
                b'K' => {
                    let v = self.le(1)? as i64;
                    self.stack.push(Value::Int(v));
                }
                b'M' => {
                    let v = self.le(2)? as i64;
                    self.stack.push(Value::Int(v));
                }
                b'I' | b'L' => {
                    let line = self.line()?;
                    let t = line.trim_end_matches('L');
                    let v = match t {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        _ => Value::Int(t.parse().map_err(|_| self.damaged("bad integer"))?),
                    };
                    self.stack.push(v);
                }
                0x8a | 0x8b => {
                    // LONG1 / LONG4: little-endian two's complement.
                    let n = if op == 0x8a {
                        self.u8()? as usize
                    } else {
                        self.le(4)? as usize
                    };
                    let b = self.bytes(n)?;
                    if n > 8 {
                        // Only magic numbers are this large; their value is not needed.
                        self.stack.push(Value::Bytes(b.to_vec()));
                        continue;
                    }
                    let mut v: i64 = 0;
                    for (i, &x) in b.iter().enumerate() {
                        v |= (x as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Value::Int(v));
                }
                b'G' => {
                    let b = self.bytes(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.stack.push(Value::Float(f64::from_be_bytes(a)));
                }
                b'F' => {
                    let line = self.line()?;
                    let v = line.parse().map_err(|_| self.damaged("bad float"))?;
                    self.stack.push(Value::Float(v));
                }
                b'X' => {
                    let n = self.le(4)? as usize;
                    let s = self.text(n)?;
                    self.stack.push(Value::Str(s));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.text(n)?;
                    self.stack.push(Value::Str(s));
                }
                0x8d => {
                    let n = self.le(8)? as usize;
                    let s = self.text(n)?;
                    self.stack.push(Value::Str(s));
                }
                b'V' => {
                    let s = self.line()?;
                    self.stack.push(Value::Str(s));
                }
                b'T' | b'B' | b'U' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'T' | b'B' => self.le(4)? as usize,
                        b'U' | b'C' => self.u8()? as usize,
                        _ => self.le(8)? as usize,
                    };
                    let b = self.bytes(n)?.to_vec();
                    self.stack.push(Value::Bytes(b));
                }
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.damaged("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items));
                }
                b']' => self.stack.push(Value::List(Rc::default())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'}' => self.stack.push(Value::Dict(Rc::default())),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Dict(Rc::default()));
                    self.set_items(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                0x8f => self.stack.push(Value::List(Rc::default())), // EMPTY_SET
                0x90 => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                } // ADDITEMS
                0x91 => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                } // FROZENSET
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(format!("{module}.{name}")));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => {
                            self.stack.push(Value::Global(format!("{m}.{n}")))
                        }
                        _ => return Err(self.damaged("STACK_GLOBAL of non-strings")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.stack.push(v);
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.reduce(cls, args)?;
                    self.stack.push(v);
                } // NEWOBJ
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.reduce(cls, args)?;
                    self.stack.push(v);
                } // NEWOBJ_EX
                b'b' => {
                    let state = self.pop()?;
                    match self.top()? {
                        Value::Object(obj) => obj.borrow_mut().state = Some(state),
                        Value::Dict(dict) => {
                            if let Value::Dict(extra) = &state {
                                let extra = extra.borrow().clone();
                                dict.borrow_mut().extend(extra);
                            }
                        }
                        // Tensors carry only hooks and flags in their state.
                        _ => {}
                    }
                }
                b'p' => {
                    let key = self.line()?.parse().map_err(|_| self.damaged("bad memo"))?;
                    self.memo_put(key)?;
                }
                b'q' => {
                    let key = self.le(1)?;
                    self.memo_put(key)?;
                }
                b'r' => {
                    let key = self.le(4)?;
                    self.memo_put(key)?;
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key)?;
                }
                b'g' => {
                    let key = self.line()?.parse().map_err(|_| self.damaged("bad memo"))?;
                    let v = self.memo_get(key)?;
                    self.stack.push(v);
                }
                b'h' => {
                    let key = self.le(1)?;
                    let v = self.memo_get(key)?;
                    self.stack.push(v);
                }
                b'j' => {
                    let key = self.le(4)?;
                    let v = self.memo_get(key)?;
                    self.stack.push(v);
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(pid)?;
                    self.stack.push(v);
                }
                b'P' => {
                    let pid = self.line()?;
                    return Err(self.damaged(format!("text persistent id {pid}")));
                }
                opcode => return Err(PickleError::Opcode { opcode }),
            }
        }
    }
}

/// Interprets one pickle.
pub fn unpickle(data: &[u8]) -> Result<Value, PickleError> {
    Machine::new(data).run()
}

/// One storage saved in torch's legacy (pre-zip) format, as `torch.save(storage)` writes it
/// when a storage is pickled by value: four pickles (magic number, protocol, system info, the
/// storage as a persistent id), the list of storage keys, then per key its element count
/// (u64, little-endian) and raw bytes.
fn read_legacy_storage(bytes: &[u8]) -> Result<(StorageRef, Vec<u8>), PickleError> {
    let mut pos = 0;
    let mut next = |what: &str| -> Result<Value, PickleError> {
        let mut m = Machine::new(bytes.get(pos..).unwrap_or_default());
        let v = m
            .run()
            .map_err(|e| PickleError::Data(format!("legacy storage {what}: {e}")))?;
        pos += m.pos;
        Ok(v)
    };
    next("magic")?;
    next("protocol")?;
    next("system info")?;
    let storage = match next("storage")? {
        Value::Storage(s) => s,
        _ => return Err(PickleError::Data("legacy storage holds no storage".into())),
    };
    let keys = match next("keys")? {
        Value::List(l) => l.borrow().clone(),
        Value::Tuple(t) => t,
        _ => return Err(PickleError::Data("legacy storage keys".into())),
    };
    let elem = storage.kind.elt_size_in_bytes();
    let mut found = None;
    for key in keys {
        let numel = bytes
            .get(pos..pos + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .ok_or_else(|| PickleError::Data("legacy storage truncated".into()))?;
        pos += 8;
        let len = (numel as usize)
            .checked_mul(elem)
            .filter(|&l| pos + l <= bytes.len())
            .ok_or_else(|| PickleError::Data("legacy storage truncated".into()))?;
        if key.as_str() == Some(storage.key.as_str()) {
            found = Some(bytes[pos..pos + len].to_vec());
        }
        pos += len;
    }
    let data = found.ok_or_else(|| PickleError::Data("legacy storage data missing".into()))?;
    Ok((storage, data))
}

/// Tensors by dotted name, and plain-data leaves as JSON by the same names.
pub type Flattened = (
    BTreeMap<String, Tensor>,
    BTreeMap<String, serde_json::Value>,
);

/// A `torch.save` zip archive: its root value and its storages' bytes by key.
pub struct TorchArchive {
    pub root: Value,
    storages: HashMap<String, Vec<u8>>,
}

/// Largest pickle lifelapse reads; checkpoints keep their bulk in the storage files.
const MAX_PICKLE_BYTES: u64 = 256 << 20;

impl TorchArchive {
    pub fn read(bytes: &[u8]) -> Result<Self, PickleError> {
        let mut zip =
            zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(PickleError::Archive)?;
        let names: Vec<String> = zip.file_names().map(str::to_string).collect();
        let pickle_name = names
            .iter()
            .find(|n| n.ends_with("/data.pkl") || *n == "data.pkl")
            .cloned()
            .ok_or_else(|| PickleError::Format("the archive has no data.pkl".into()))?;
        let prefix = pickle_name.trim_end_matches("data.pkl").to_string();
        if let Some(order) = names.iter().find(|n| **n == format!("{prefix}byteorder")) {
            let mut text = String::new();
            if let Ok(mut f) = zip.by_name(order) {
                let _ = f.read_to_string(&mut text);
            }
            if text.trim() == "big" {
                return Err(PickleError::Format(
                    "big-endian checkpoints are not read".into(),
                ));
            }
        }
        let mut pickle = Vec::new();
        zip.by_name(&pickle_name)
            .map_err(PickleError::Archive)?
            .take(MAX_PICKLE_BYTES)
            .read_to_end(&mut pickle)
            .map_err(|e| PickleError::Read(pickle_name.clone(), e))?;
        let root = unpickle(&pickle)?;
        let data_prefix = format!("{prefix}data/");
        let mut storages = HashMap::new();
        for name in names.iter().filter(|n| n.starts_with(&data_prefix)) {
            let mut buf = Vec::new();
            zip.by_name(name)
                .map_err(PickleError::Archive)?
                .read_to_end(&mut buf)
                .map_err(|e| PickleError::Read(name.clone(), e))?;
            storages.insert(name[data_prefix.len()..].to_string(), buf);
        }
        Ok(Self { root, storages })
    }

    /// A bare pickle (`pickle.dump` of objects holding tensors, as `.pkl` checkpoints are):
    /// storages come pickled by value inside it.
    pub fn read_pickle(bytes: &[u8]) -> Result<Self, PickleError> {
        let mut machine = Machine::new(bytes);
        let root = machine.run()?;
        Ok(Self {
            root,
            storages: machine.inline_storages,
        })
    }

    /// Materialises one tensor from its storage.
    pub fn tensor(&self, t: &TensorRef) -> Result<Tensor, PickleError> {
        let bytes = self
            .storages
            .get(&t.storage.key)
            .ok_or_else(|| PickleError::Data(format!("storage {} is missing", t.storage.key)))?;
        let elem = t.storage.kind.elt_size_in_bytes();
        if bytes.len() % elem != 0 {
            return Err(PickleError::Data(format!(
                "storage {} has {} bytes, not a multiple of {elem}",
                t.storage.key,
                bytes.len()
            )));
        }
        let numel = (bytes.len() / elem) as i64;
        // The furthest element the view touches must lie inside the storage.
        let last = t.offset
            + t.size
                .iter()
                .zip(&t.stride)
                .map(|(&n, &s)| (n - 1).max(0) * s)
                .sum::<i64>();
        let empty = t.size.contains(&0);
        if t.size.len() != t.stride.len()
            || t.offset < 0
            || t.stride.iter().any(|&s| s < 0)
            || (!empty && last >= numel)
        {
            return Err(PickleError::Data(format!(
                "tensor view {:?}/{:?}+{} exceeds storage {} of {numel} elements",
                t.size, t.stride, t.offset, t.storage.key
            )));
        }
        let flat = Tensor::f_from_data_size(bytes, &[numel], t.storage.kind)
            .map_err(PickleError::Tensor)?;
        Ok(flat
            .as_strided(t.size.as_slice(), t.stride.as_slice(), t.offset)
            .contiguous())
    }

    /// Every tensor reachable through dicts (and objects' state), named by the dotted path of
    /// keys, plus the plain-data leaves as JSON by the same names.
    pub fn flatten(&self) -> Result<Flattened, PickleError> {
        let mut tensors = BTreeMap::new();
        let mut plain = BTreeMap::new();
        self.walk(&self.root, String::new(), &mut tensors, &mut plain, 0)?;
        Ok((tensors, plain))
    }

    fn walk(
        &self,
        v: &Value,
        name: String,
        tensors: &mut BTreeMap<String, Tensor>,
        plain: &mut BTreeMap<String, serde_json::Value>,
        depth: usize,
    ) -> Result<(), PickleError> {
        // Deep enough for any checkpoint; a cyclic object graph stops here.
        if depth > 32 {
            return Ok(());
        }
        let join = |k: &str| {
            // A module's state nests its tensors under these; the names leave them out.
            if matches!(k, "_parameters" | "_buffers" | "_modules") {
                name.clone()
            } else if name.is_empty() {
                k.to_string()
            } else {
                format!("{name}.{k}")
            }
        };
        match v {
            Value::Tensor(t) => {
                tensors.insert(name, self.tensor(t)?);
            }
            Value::Dict(items) => {
                for (k, v) in items.borrow().iter() {
                    let key = match k {
                        Value::Str(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        _ => continue,
                    };
                    self.walk(v, join(&key), tensors, plain, depth + 1)?;
                }
            }
            Value::Object(obj) => {
                let obj = obj.borrow();
                if let Some(state) = &obj.state {
                    self.walk(state, name, tensors, plain, depth + 1)?;
                } else if obj
                    .class
                    .ends_with("persistence._reconstruct_persistent_obj")
                {
                    // Persistent modules carry their state in the metadata they are rebuilt from.
                    if let Some(state) = obj.args.first().and_then(|meta| meta.get("state")) {
                        self.walk(&state, name, tensors, plain, depth + 1)?;
                    }
                }
            }
            other => {
                if let Some(json) = other.to_json() {
                    plain.insert(name, json);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_and_shared_dicts() {
        // {'a': [1, -2, 3.5], 'b': <same list>} built the way pickle protocol 2 writes it.
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00eX\x01\x00\x00\x00bq\x03h\x02u.";
        let v = unpickle(data).expect("pickle");
        let json = v.to_json().expect("plain");
        assert_eq!(
            json,
            serde_json::json!({"a": [1, -2, 3.5], "b": [1, -2, 3.5]})
        );
    }

    #[test]
    fn classes_are_recorded_never_called() {
        // os.system('echo pwned'): a GLOBAL + REDUCE that a real unpickler would execute.
        let data = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.";
        match unpickle(data).expect("pickle") {
            Value::Object(obj) => {
                assert_eq!(obj.borrow().class, "os.system");
                assert_eq!(obj.borrow().args[0].as_str(), Some("echo pwned"));
            }
            other => panic!("expected an inert object, got {other:?}"),
        }
    }

    #[test]
    fn truncated_and_unknown_input_is_refused() {
        assert!(matches!(
            unpickle(b"\x80\x02}q\x00(X\x05\x00\x00"),
            Err(PickleError::Damaged { .. })
        ));
        assert!(matches!(
            unpickle(b"\x80\x02\xff"),
            Err(PickleError::Opcode { .. })
        ));
        assert!(TorchArchive::read(b"not a zip").is_err());
    }
}
