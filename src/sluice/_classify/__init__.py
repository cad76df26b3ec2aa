"""How sluice reads an error: the error protocol, HTTP statuses and headers in the shapes of
common client libraries, and the families of timeouts and lost connections.

- `info`: `ErrorInfo`, the classification the policies act on;
- `headers`: header values read case-insensitively from any client's mapping, checked;
- `shapes`: where each library keeps the status and headers, and its error class names;
- `classify`: `classify_error` (the default) and a gate's own classification on top of it.
"""

from .classify import Classifier, classifier_for, classify_error
from .info import ErrorInfo

__all__ = ["Classifier", "ErrorInfo", "classifier_for", "classify_error"]
