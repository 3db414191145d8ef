/**
 * The lab: every design the seeds argue about, measured on the same seeded workloads with the same
 * columns ({@link dev.refkern.examples.lab.LabRow}), so tables, charts, the power-cut matrix, the
 * HTML report and the Spark sweep need no per-policy code.
 */
package dev.refkern.examples.lab;
