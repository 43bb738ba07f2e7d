"""Worksheets and grading: generate exercises from solutions, grade submissions safely.

* :mod:`~course_lib.grading.worksheets` reads the solution notebooks, writes the exercises and
  finds the graded cells in a student's notebook;
* :mod:`~course_lib.grading.runner` runs student code (in the notebook or in a child process);
* :mod:`~course_lib.grading.mistakes` simulates the known mistakes so a check can name them;
* :mod:`~course_lib.grading.sandbox` starts and talks to the resource-limited child process;
* :mod:`~course_lib.grading.grader` grades one notebook or a class folder;
* :mod:`~course_lib.grading.report` writes the gradebook, the feedback reports and the summary.
"""
