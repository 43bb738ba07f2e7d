# worksheet: ex05_adam
# replace: adam
# expect: adam=uses the reference implementation; uncorrected_first_step=correct
from course_lib.optimizers import Adam as Reference


class Adam(Reference):
    """Looks like an answer, is the reference."""
