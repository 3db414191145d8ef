/** The report's own machinery: aggregation over seeds, formatting and inline SVG charts. */
@API(status = INTERNAL, since = "0.1.0")
package dev.refkern.examples.report.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import org.apiguardian.api.API;
