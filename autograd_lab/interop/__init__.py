"""Ways out of autograd_lab: ONNX files (`al.onnx.export`), PyTorch modules
(`al.export_torch`) and a static web page that classifies sound in the browser."""
