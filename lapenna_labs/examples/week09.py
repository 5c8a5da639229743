"""Week 9's schedule check: the Spring 2022 webinars' dates, from the meeting list and the table.

Lecture 4's deck gives the twelve webinars twice: as the meeting invitation's list of
occurrences ("Every week on Thu, 12 occurrence(s)", :data:`WEBINAR_OCCURRENCES`) and as the
"Schedule of LAPENNA Spring 2022" table of months, weeks, days of the month and topics
(:data:`SCHEDULE_TABLE`). The table puts week 9, "Object Detection, RC vehicle", on the 31st
under "April", a day April does not have. :func:`webinar_dates` computes every week's date
from the first meeting and the weekly rhythm, so the two sources can be checked against it.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

from .._validation import check_positive_int

__all__ = [
    "FIRST_WEBINAR",
    "SCHEDULE_TABLE",
    "WEBINAR_OCCURRENCES",
    "ScheduleRow",
    "webinar_dates",
]

#: The first webinar, Thursday February 3, 2022 (the meeting list's first occurrence).
FIRST_WEBINAR = datetime.date(2022, 2, 3)

#: The meeting invitation's occurrences, as the slide prints them (all at 07:30 PM).
WEBINAR_OCCURRENCES: tuple[str, ...] = (
    "Feb 3, 2022",
    "Feb 10, 2022",
    "Feb 17, 2022",
    "Feb 24, 2022",
    "Mar 3, 2022",
    "Mar 10, 2022",
    "Mar 17, 2022",
    "Mar 24, 2022",
    "Mar 31, 2022",
    "Apr 7, 2022",
    "Apr 14, 2022",
    "Apr 21, 2022",
)


class ScheduleRow(NamedTuple):
    """One row of the schedule table: the month label in force, the week, the day, the topic."""

    month: str
    week: int
    day: int
    topic: str


def _rows(month: str, *rows: tuple[int, int, str]) -> list[ScheduleRow]:
    return [ScheduleRow(month, week, day, topic) for week, day, topic in rows]


#: The schedule table as printed; a month label holds until the next one (merged cells).
SCHEDULE_TABLE: tuple[ScheduleRow, ...] = tuple(
    _rows(
        "February",
        (1, 3, "Logistics, High Performance Computing"),
        (2, 10, "Computational Ecosystem, Linear Algebra"),
        (3, 17, "Introduction to DNN, Forward Path (MLP)"),
        (4, 24, "Backward Path (MLP), Math, Example"),
    )
    + _rows(
        "March",
        (5, 3, "CNN Computation"),
        (6, 10, "CNN Backpropagation, Example"),
        (7, 17, "CNN Network, Linear Algebra"),
        (8, 24, "Segmentation, Unet,"),
    )
    + _rows(
        "April",
        (9, 31, "Object Detection, RC vehicle"),
        (10, 7, "RNN, LSTM, Transformers"),
        (11, 14, "DNN Computing on GPU"),
    )
    + _rows("June or July", (12, 21, "Overview, Closing"))
)


def webinar_dates(n_weeks: int = 12) -> dict[int, datetime.date]:
    """The date of each week's webinar: weekly from :data:`FIRST_WEBINAR`.

    Parameters
    ----------
    n_weeks : int, default 12
        How many weeks.

    Returns
    -------
    dict of int to datetime.date
        Week number (from 1) to its date.

    Examples
    --------
    >>> dates = webinar_dates()
    >>> dates[9].strftime("%A, %B %d, %Y")
    'Thursday, March 31, 2022'
    >>> dates[12]
    datetime.date(2022, 4, 21)
    """
    n_weeks = check_positive_int(n_weeks, name="n_weeks", func="webinar_dates")
    return {
        week: FIRST_WEBINAR + datetime.timedelta(weeks=week - 1) for week in range(1, n_weeks + 1)
    }
