# PyInstaller runtime hook: runs before SafeVet's own code in the frozen desktop app.
# onnxruntime reads ORT_DISABLE_TELEMETRY only when it is imported (see AIR-GAPPED.md).
import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"
