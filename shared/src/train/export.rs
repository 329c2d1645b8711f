//! Writing safetensors files with metadata, atomically (temporary file in the same folder,
//! then rename), and building a complete model file from a base model's tensors.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::{Dtype, View};

use super::TrainError;
use crate::error::IoError;
use crate::model::meta::keys;
use crate::model::Weights;

/// Named tensors and string metadata: the content of a safetensors file.
pub type TensorsAndMetadata = (Vec<(String, Tensor)>, HashMap<String, String>);

/// A float32 tensor's bytes for the safetensors writer.
struct F32View {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for F32View {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Write `tensors` (any float dtype, stored as f32) and `metadata` to `path` atomically: a
/// reader sees either the old file or the complete new one, never a partial write.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> Result<(), TrainError> {
    let mut views = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let flat = t
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let bytes = flat.iter().flat_map(|v| v.to_le_bytes()).collect();
        views.push((
            name.clone(),
            F32View {
                shape: t.dims().to_vec(),
                bytes,
            },
        ));
    }
    let data = safetensors::serialize(views, Some(metadata))
        .map_err(|e| TrainError::Format(e.to_string()))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let tmp = path.with_file_name(format!(".{file_name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, &data).map_err(IoError::write(path))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        IoError::write(path)(e).into()
    })
}

/// All tensors and the metadata of a safetensors file in memory.
pub fn read_safetensors(bytes: &[u8], what: &str) -> Result<TensorsAndMetadata, TrainError> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| TrainError::Format(format!("{what}: {e}")))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let mut tensors: Vec<(String, Tensor)> =
        candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?
            .into_iter()
            .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((tensors, metadata))
}

/// A full model file: every tensor of `base` (the published layout, in name order), with
/// `replace` swapped in (the output layer may change size), the base metadata kept and
/// `metadata` added on top.
pub fn model_tensors(
    base: &Weights,
    replace: &[(String, Tensor)],
    metadata: &HashMap<String, String>,
) -> TensorsAndMetadata {
    let mut tensors: Vec<(String, Tensor)> = base
        .tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.clone()))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut meta = base.metadata.clone();
    for (name, t) in replace {
        match tensors.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = t.clone(),
            None => tensors.push((name.clone(), t.clone())),
        }
    }
    if let Some(base_model) = meta.get(keys::MODEL).cloned() {
        meta.insert(keys::BASE_MODEL.into(), base_model);
    }
    meta.extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    (tensors, meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_metadata() {
        let dir = std::env::temp_dir().join(format!("mgr-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        let t = Tensor::arange(0f32, 6.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 3))
            .unwrap();
        let meta = HashMap::from([("labels".to_string(), "[\"a\",\"b\"]".to_string())]);
        write_safetensors(&path, &[("output.weight".into(), t.clone())], meta).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (ts, m) = read_safetensors(&bytes, "test").unwrap();
        assert_eq!(m["labels"], "[\"a\",\"b\"]");
        assert_eq!(ts[0].0, "output.weight");
        assert_eq!(
            ts[0].1.to_vec2::<f32>().unwrap(),
            t.to_vec2::<f32>().unwrap()
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file left behind");
        let _ = std::fs::remove_dir_all(dir);
    }
}
