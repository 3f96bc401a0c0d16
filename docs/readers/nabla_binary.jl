# Read Nabla's framed binary answers from Julia (HTTP.jl and JSON3.jl). See docs/arrays.md.
using HTTP, JSON3

const TYPES = Dict("float64" => Float64, "float32" => Float32, "int64" => Int64,
                   "int32" => Int32, "int16" => Int16, "int8" => Int8, "uint8" => UInt8)

# The JSON part, with each binary array replaced by a Julia array of its shape. Arrays come
# in C (row-major) order: reshape to the reversed shape, then reverse the axes back.
function read_answer(response::HTTP.Response)
    bytes = response.body
    start = parse(Int, HTTP.header(response, "Inference-Header-Content-Length"))
    revive(node) = node
    function revive(node::JSON3.Object)
        if get(node, :object_type, nothing) == "array" && node.data.encoding == "binary"
            T, at = TYPES[node.dtype], start + node.data.binary_data_offset
            flat = reinterpret(T, bytes[at+1:at+node.data.binary_data_size])  # little-endian
            dims = Tuple(reverse(collect(Int, node.shape)))
            return permutedims(reshape(collect(flat), dims), length(dims):-1:1)
        end
        return Dict(String(key) => revive(value) for (key, value) in pairs(node))
    end
    return revive(JSON3.read(String(bytes[1:start])))
end
