"""stepd-client: talk to a stepd optimizer server from Python.

    import numpy as np, stepd
    s = stepd.Session.create(optimizer={"type": "adamw", "lr": 1e-3},
                             params={"w": np.zeros((4, 3), np.float32)})
    r = s.step({"w": grad}, loss=0.7)   # binary upload, safe retries
    w = s.params()["w"]

``import stepd`` never imports torch; ``stepd.torch.StepdOptimizer`` is the torch.optim drop-in.
"""

from .client import DEFAULT_URL, Client, Session, StepResult, default_url
from .cluster import Cluster
from .errors import StepdError
from .sharded import ShardedSession

__all__ = ["Client", "Cluster", "Session", "ShardedSession", "StepResult", "StepdError", "DEFAULT_URL", "default_url"]
__version__ = "0.1.0"
