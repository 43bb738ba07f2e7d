# worksheet: ex05_adam
# replace: adam
# expect: adam=uses the reference implementation; uncorrected_first_step=correct
from course_lib import Adam  # noqa: F401 - the whole point of this submission
