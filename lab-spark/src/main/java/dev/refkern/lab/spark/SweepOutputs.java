package dev.refkern.lab.spark;

import dev.refkern.examples.lab.LabRow;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;
import org.apache.parquet.schema.Types;

/**
 * The sweep's tables, rebuilt from every finished cell: {@code rows.csv} and one {@code
 * rows.parquet} file, both written on the driver (an executor's disk may be another machine's).
 */
final class SweepOutputs {
  static final String CSV = "rows.csv";
  static final String PARQUET = "rows.parquet";

  private SweepOutputs() {}

  static void writeCsv(Path out, List<LabRow> rows) {
    List<String> lines = new ArrayList<>(rows.size() + 1);
    lines.add(RowCodec.header());
    rows.forEach(r -> lines.add(RowCodec.encode(r)));
    Path f = out.resolve(CSV);
    try {
      Path tmp = out.resolve(".rows.csv.tmp"); // not createTempFile: that would make it 0600
      Files.write(tmp, lines, StandardCharsets.UTF_8);
      Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + f, e);
    }
  }

  /** The Parquet schema: a column per {@link LabRow#COLUMNS}, typed by what the row holds. */
  static MessageType schema(LabRow sample) {
    Types.MessageTypeBuilder b = Types.buildMessage();
    List<Object> values = sample.values();
    for (int i = 0; i < values.size(); i++) {
      String name = LabRow.COLUMNS.get(i);
      Object v = values.get(i);
      Type t;
      if (v instanceof Long) {
        t = Types.required(PrimitiveTypeName.INT64).named(name);
      } else if (v instanceof Boolean) {
        t = Types.required(PrimitiveTypeName.BOOLEAN).named(name);
      } else if (v instanceof Double) {
        t = Types.required(PrimitiveTypeName.DOUBLE).named(name);
      } else {
        t =
            Types.required(PrimitiveTypeName.BINARY)
                .as(LogicalTypeAnnotation.stringType())
                .named(name);
      }
      b.addField(t);
    }
    return b.named("lab_row");
  }

  static void writeParquet(Path out, List<LabRow> rows) {
    Path f = out.resolve(PARQUET);
    if (rows.isEmpty()) {
      return;
    }
    MessageType schema = schema(rows.get(0));
    SimpleGroupFactory groups = new SimpleGroupFactory(schema);
    try {
      Path tmp = out.resolve(".rows.parquet.tmp");
      try (ParquetWriter<Group> w =
          ExampleParquetWriter.builder(new LocalOutputFile(tmp))
              .withType(schema)
              .withCompressionCodec(CompressionCodecName.SNAPPY)
              .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
              .build()) {
        for (LabRow r : rows) {
          Group g = groups.newGroup();
          List<Object> values = r.values();
          for (int i = 0; i < values.size(); i++) {
            String name = LabRow.COLUMNS.get(i);
            Object v = values.get(i);
            if (v instanceof Long l) {
              g.append(name, l);
            } else if (v instanceof Boolean bool) {
              g.append(name, bool);
            } else if (v instanceof Double d) {
              g.append(name, d);
            } else {
              g.append(name, String.valueOf(v));
            }
          }
          w.write(g);
        }
      }
      Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + f, e);
    }
  }
}
