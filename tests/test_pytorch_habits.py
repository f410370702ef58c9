"""A training script written with PyTorch's habits runs on autograd_lab with only its import
lines changed: a small CNN on random 1x40x63 "spectrograms", modules, a loss module, an
optimizer and a scheduler, no_grad, state_dict save and load, .item(), .argmax(dim=1),
.detach(), cat and stack.

The script below is the same text for both libraries; `IMPORTS` holds the only lines
that differ. With torch installed it also runs on PyTorch, so the script stays true to
what a PyTorch user writes.
"""
import os
import textwrap

import pytest

IMPORTS = {
    "torch": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.optim as optim
        from torch.optim.lr_scheduler import StepLR
    """,
    "autograd_lab": """
        import autograd_lab as torch
        import autograd_lab.nn as nn
        import autograd_lab.nn.functional as F
        import autograd_lab.optim as optim
        from autograd_lab.optim.lr_scheduler import StepLR
    """,
}

SCRIPT = """
torch.manual_seed(0)


class SmallCNN(nn.Module):
    def __init__(self, n_classes=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding="same"),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d((1, 1)),
        )
        self.dropout = nn.Dropout(p=0.1)
        self.classifier = nn.Linear(16, n_classes)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(self.dropout(x))


# random "log-mel spectrograms": 40 mel bands x 63 frames, the class shifts the level
n, n_classes = 64, 4
y = torch.randint(0, n_classes, (n,))
X = torch.randn(n, 1, 40, 63) + y.float().view(-1, 1, 1, 1) * 0.5

model = SmallCNN(n_classes)
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scheduler = StepLR(optimizer, step_size=2, gamma=0.5)

losses = []
for epoch in range(4):
    model.train()
    perm = torch.randperm(n)
    for i in range(0, n, 16):
        idx = perm[i:i + 16]
        xb, yb = X[idx], y[idx]
        optimizer.zero_grad()
        logits = model(xb)
        loss = criterion(logits, yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    scheduler.step()

model.eval()
with torch.no_grad():
    logits = model(X)
    pred = logits.argmax(dim=1)
    accuracy = (pred == y).float().mean().item()
    probs = F.softmax(logits, dim=1)
    assert abs(probs.sum(dim=1) - 1).max().item() < 1e-5

features = model.features(X[:3]).detach()
both = torch.cat([features, features], dim=0)
pair = torch.stack([features, features], dim=1)
assert tuple(both.shape) == (6, 16, 1, 1) and tuple(pair.shape) == (3, 2, 16, 1, 1)
assert not features.requires_grad and features.size(1) == 16 and features.dim() == 4

torch.save(model.state_dict(), CHECKPOINT)
restored = SmallCNN(n_classes)
restored.load_state_dict(torch.load(CHECKPOINT))
restored.eval()
with torch.no_grad():
    difference = (restored(X) - logits).abs().max().item()

result = {"first_loss": sum(losses[:4]) / 4, "last_loss": sum(losses[-4:]) / 4,
          "accuracy": accuracy, "difference": difference, "lr": scheduler.get_last_lr()[0]}
"""


def _run(library, tmp_path):
    if library == "torch":
        import torch
        torch.set_num_threads(1)      # a shared CI machine: its spinning threads slow everything
    source = textwrap.dedent(IMPORTS[library]) + SCRIPT
    namespace = {"CHECKPOINT": os.fspath(tmp_path / f"{library}.pt"), "__name__": "__main__"}
    exec(compile(source, f"<pytorch-habits script on {library}>", "exec"), namespace)
    return namespace["result"]


def _check(result):
    assert result["last_loss"] < result["first_loss"] * 0.9, result      # it learns
    assert result["accuracy"] > 0.4, result                               # chance: 0.25
    assert result["difference"] < 1e-5, result                            # the state_dict round trip
    assert result["lr"] == pytest.approx(0.05 * 0.5 ** 2)


def test_the_script_runs_on_autograd_lab_with_only_the_imports_changed(tmp_path):
    _check(_run("autograd_lab", tmp_path))


def test_the_same_script_runs_on_pytorch(tmp_path):
    pytest.importorskip("torch")
    _check(_run("torch", tmp_path))


def test_only_import_lines_differ():
    for library, lines in IMPORTS.items():
        assert all(line.strip().startswith(("import ", "from ")) for line in lines.strip().splitlines())
