import sys
from pathlib import Path

# the reference and the sweep are plain modules beside the tests
sys.path.insert(0, str(Path(__file__).parent))
