// A command for the vectors test, as verifiers/c/vectors.c is:
//   mono vectors.exe key|computer|answer ID:BASE64 [ID:BASE64 ...] -- TEXT
// (for answer, TEXT is KEY_ID:ANSWER_BASE64:SIGNATURE_BASE64). It prints the
// decoding as JSON and exits 0, or prints "invalid" and exits 1.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace Keysmith
{
    static class Vectors
    {
        static int Main(string[] args)
        {
            var sep = Array.IndexOf(args, "--");
            if (args.Length < 3 || sep < 1 || sep + 1 >= args.Length) return 2;
            var ring = new Dictionary<ushort, string>();
            foreach (var arg in args.Skip(1).Take(sep - 1))
            {
                var colon = arg.IndexOf(':');
                ring[ushort.Parse(arg.Substring(0, colon))] = arg.Substring(colon + 1);
            }
            var verifier = new Verifier(ring);
            var text = args[sep + 1];
            try
            {
                switch (args[0])
                {
                    case "key":
                        Console.WriteLine(Json(verifier.VerifyKey(text)));
                        break;
                    case "computer":
                        var l = verifier.VerifyComputerLicense(text);
                        Console.WriteLine("{\"key\":" + Json(l.Key) + ",\"computer_id\":" + Str(l.ComputerId) +
                            ",\"seat\":" + l.Seat + ",\"issued\":" + Str(l.Issued) + ",\"check_by\":" + Str(l.CheckBy) + "}");
                        break;
                    case "answer":
                        var parts = text.Split(':');
                        Console.WriteLine(verifier.VerifyAnswer(parts[1], ushort.Parse(parts[0]), parts[2]));
                        break;
                    default:
                        return 2;
                }
                return 0;
            }
            catch (InvalidLicenseException)
            {
                Console.WriteLine("invalid");
                return 1;
            }
        }

        static string Json(Claims c)
        {
            return "{\"key_id\":" + c.KeyId + ",\"product\":" + c.Product + ",\"major\":" + c.Major +
                ",\"minor\":" + c.Minor + ",\"features\":[" + string.Join(",", c.Features) + "],\"seats\":" + c.Seats +
                ",\"model\":" + Str(c.Model) + ",\"issued\":" + Str(c.Issued) + ",\"expires\":" + Str(c.Expires) +
                ",\"maintenance\":" + Str(c.Maintenance) + ",\"serial\":" + Str(c.Serial) + "}";
        }

        static string Str(string s)
        {
            var b = new StringBuilder("\"");
            foreach (var ch in s)
            {
                if (ch == '"' || ch == '\\') b.Append('\\').Append(ch);
                else if (ch < 0x20) b.AppendFormat("\\u{0:x4}", (int)ch);
                else b.Append(ch);
            }
            return b.Append('"').ToString();
        }
    }
}
