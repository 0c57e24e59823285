"""The README's examples as a user would write them; `mypy --strict` must accept this file
(tests/usability/test_user_messages.py runs it). It is type-checked, never executed."""

import numpy as np

import pyrnn

model: pyrnn.Model = pyrnn.load("model.keras")
model = pyrnn.load("model.keras", timeout=120.0)
x = np.random.rand(8, 49, 1).astype("float32")
y = model.predict(x, batch_size=256)
model.summary()
params: int = model.count_params()

stream: pyrnn.Stream = model.stream(batch_size=1)
y_t = stream.step(x[:1, 0])
stream.feed(x[:1])
stream.reset(rows=[0])
saved = stream.state
stream.state = saved

rng = np.random.default_rng(0)
kernel = rng.normal(size=(1, 200)).astype(np.float32)
recurrent = rng.normal(size=(50, 200)).astype(np.float32)
bias = np.zeros(200, np.float32)
lstm: pyrnn.LSTM = pyrnn.LSTM(kernel, recurrent, bias, return_sequences=True, return_state=True)
out = lstm(x, initial_state=None, mask=None)
gru: pyrnn.GRU = pyrnn.GRU.from_config({"units": 50}, [kernel[:, :150], recurrent[:, :150]])
bi = pyrnn.Bidirectional(pyrnn.LSTM(kernel, recurrent, bias),
                         pyrnn.LSTM(kernel, recurrent, bias, go_backwards=True), merge_mode="concat")
both = bi(x)

reduced: pyrnn.Model = pyrnn.load("model.keras", compute_type="bfloat16")
kind: str = reduced.compute_type
names: tuple[str, ...] = pyrnn.COMPUTE_TYPES
int8_lstm: pyrnn.LSTM = pyrnn.LSTM(kernel, recurrent, bias, compute_type="int8")
half_gru: pyrnn.GRU = pyrnn.GRU.from_config({"units": 50}, [kernel[:, :150], recurrent[:, :150]],
                                            compute_type=np.float16)
bi_kind: str = bi.compute_type

predictor: pyrnn.BatchPredictor = pyrnn.BatchPredictor("model.keras", batch_size=4096, num_threads=1)
int8_predictor = pyrnn.BatchPredictor("model.keras", compute_type="int8")
batch_out = predictor(x)
y = model.predict(x, batch_size=64, verbose=1)

pyrnn.set_num_threads(2)
threads: int = pyrnn.get_num_threads()
pyrnn.set_memory_limit(1 << 30)
freed: int = pyrnn.release_memory()
info = pyrnn.show_config()
try:
    pyrnn.load("broken.keras")
except pyrnn.LoadTimeoutError as exc:
    print(exc)
except pyrnn.UnsupportedLayerError as exc:
    print(exc.problems)
except pyrnn.ModelFormatError as exc:
    print(exc)

profile: pyrnn.Profile = model.profile(x, repeats=10, warmup=1)
print(profile)
slowest: pyrnn.ProfileRow = profile.rows[0]
seconds: float = slowest.mean_s
as_json = profile.to_dict()


def from_torch_usage(module: object) -> None:
    converted: pyrnn.TorchModel = pyrnn.from_torch(module, return_state=True)
    quantized: pyrnn.TorchModel = pyrnn.from_torch(module, compute_type="int8")
    output, h_n = converted.predict(x)
    quantized.summary()
    converted.summary()
