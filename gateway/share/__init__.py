"""Share reports for B5 customs partners: aggregation, trends, disclosure control, report building.

Everything here is pure (no I/O, no adapters):

    aggregate   one accepted Declaration -> its cell and counts; journal changes -> increments
    trends      per (origin, HS chapter): the week against the trailing 8 ISO weeks, robust z
    disclosure  THE gate every outbound report passes: small-cell and complementary suppression,
                and the allow-list of field names that keeps personal data in
    report      the JSON-ready report document and its canonical bytes
"""
